package opa

import (
	"fmt"
	"reflect"
	"sync"

	"github.com/open-policy-agent/opa/v1/ast"

	"github.com/releasegate/gatekeeper/gatekeeper"
)

// inputValue converts a policy input document to the ast.Value OPA
// evaluates. The gatekeeper's own *gatekeeper.Input is walked directly,
// field by field under its JSON names, with no intermediate maps and no
// JSON round trip (rego.EvalInput would marshal and unmarshal it); plain
// Go documents (the eval command's, tests') go through
// ast.InterfaceToValue. nil is the empty object.
func inputValue(input any) (ast.Value, error) {
	switch x := input.(type) {
	case nil:
		return ast.NewObject(), nil
	case *gatekeeper.Input:
		if x == nil {
			return ast.NewObject(), nil
		}
		return structValue(reflect.ValueOf(x).Elem())
	case map[string]any:
		if x == nil {
			return ast.NewObject(), nil
		}
	}
	return ast.InterfaceToValue(input)
}

// fieldPlan is one struct field under its JSON name, the name already an
// ast.Value so that every object shares it.
type fieldPlan struct {
	index     int
	key       ast.Value
	omitEmpty bool
}

var plans sync.Map // reflect.Type → []fieldPlan

func planOf(t reflect.Type) []fieldPlan {
	if p, ok := plans.Load(t); ok {
		return p.([]fieldPlan)
	}
	fields := gatekeeper.JSONFields(t)
	out := make([]fieldPlan, len(fields))
	for i, f := range fields {
		out[i] = fieldPlan{index: f.Index, key: ast.InternedValue(f.Name), omitEmpty: f.OmitEmpty}
	}
	p, _ := plans.LoadOrStore(t, out)
	return p.([]fieldPlan)
}

// structValue converts the Input types: structs, pointers, slices, maps
// with string keys, strings, booleans, integers and floats, exactly as
// encoding/json would encode them (TestInputValueMatchesJSON). The terms
// of an object or array are allocated together.
func structValue(v reflect.Value) (ast.Value, error) {
	switch v.Kind() {
	case reflect.Pointer, reflect.Interface:
		if v.IsNil() {
			return ast.NullValue, nil
		}
		return structValue(v.Elem())
	case reflect.Struct:
		plan := planOf(v.Type())
		terms := make([]ast.Term, 2*len(plan))
		items := make([][2]*ast.Term, 0, len(plan))
		for i, f := range plan {
			fv := v.Field(f.index)
			if f.omitEmpty && gatekeeper.JSONEmpty(fv) {
				continue
			}
			e, err := structValue(fv)
			if err != nil {
				return nil, err
			}
			k, t := &terms[2*i], &terms[2*i+1]
			k.Value, t.Value = f.key, e
			items = append(items, [2]*ast.Term{k, t})
		}
		return ast.NewObject(items...), nil
	case reflect.Map:
		if v.IsNil() {
			return ast.NullValue, nil
		}
		if v.Type().Key().Kind() != reflect.String {
			return nil, fmt.Errorf("policy input: map key %s is not a string", v.Type().Key())
		}
		terms := make([]ast.Term, 2*v.Len())
		items := make([][2]*ast.Term, 0, v.Len())
		it := v.MapRange()
		for i := 0; it.Next(); i++ {
			e, err := structValue(it.Value())
			if err != nil {
				return nil, err
			}
			k, t := &terms[2*i], &terms[2*i+1]
			k.Value, t.Value = ast.InternedValue(it.Key().String()), e
			items = append(items, [2]*ast.Term{k, t})
		}
		return ast.NewObject(items...), nil
	case reflect.Slice:
		if v.IsNil() {
			return ast.NullValue, nil
		}
		terms := make([]ast.Term, v.Len())
		ptrs := make([]*ast.Term, v.Len())
		for i := range terms {
			e, err := structValue(v.Index(i))
			if err != nil {
				return nil, err
			}
			terms[i].Value = e
			ptrs[i] = &terms[i]
		}
		return ast.NewArray(ptrs...), nil
	case reflect.String:
		return ast.InternedValue(v.String()), nil
	case reflect.Bool:
		return ast.InternedValue(v.Bool()), nil
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return ast.InternedValue(int(v.Int())), nil
	case reflect.Float32, reflect.Float64:
		return ast.InterfaceToValue(v.Float())
	}
	return nil, fmt.Errorf("policy input: cannot convert a %s", v.Type())
}
