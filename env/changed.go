package env

import "reflect"

// Changed lists the keys whose values differ between two settings of one
// binary (two Server, say), in declaration order: what a reload would
// change.
func Changed[T any](old, next T) []string {
	a, b := reflect.ValueOf(old), reflect.ValueOf(next)
	t := a.Type()
	var keys []string
	for i := range t.NumField() {
		key := envKey(t.Field(i))
		if key != "" && !reflect.DeepEqual(a.Field(i).Interface(), b.Field(i).Interface()) {
			keys = append(keys, key)
		}
	}
	return keys
}
