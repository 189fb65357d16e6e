package chart

import (
	"fmt"
	"reflect"
	"sort"
)

// Diff lists every field where two decoded JSON values (maps, slices, scalars) differ, as
// "path: a X, b Y" with the path in JSONPath form (.spec.template.spec.containers[0].args[1]),
// so that a failing comparison names the field and not only the object.
func Diff(path string, a, b any) []string {
	switch av := a.(type) {
	case map[string]any:
		bv, ok := b.(map[string]any)
		if !ok {
			break
		}
		keys := map[string]bool{}
		for k := range av {
			keys[k] = true
		}
		for k := range bv {
			keys[k] = true
		}
		sorted := make([]string, 0, len(keys))
		for k := range keys {
			sorted = append(sorted, k)
		}
		sort.Strings(sorted)
		var out []string
		for _, k := range sorted {
			x, inA := av[k]
			y, inB := bv[k]
			switch {
			case !inA:
				out = append(out, fmt.Sprintf("%s.%s: only in b: %s", path, k, short(y)))
			case !inB:
				out = append(out, fmt.Sprintf("%s.%s: only in a: %s", path, k, short(x)))
			default:
				out = append(out, Diff(path+"."+k, x, y)...)
			}
		}
		return out
	case []any:
		bv, ok := b.([]any)
		if !ok || len(av) != len(bv) {
			break
		}
		var out []string
		for i := range av {
			out = append(out, Diff(fmt.Sprintf("%s[%d]", path, i), av[i], bv[i])...)
		}
		return out
	}
	if reflect.DeepEqual(a, b) {
		return nil
	}
	return []string{fmt.Sprintf("%s: a %s, b %s", path, short(a), short(b))}
}

func short(v any) string {
	s := fmt.Sprintf("%#v", v)
	if len(s) > 200 {
		s = s[:200] + "..."
	}
	return s
}
