package logattr_test

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"quiniela/lottery/logattr"
)

// declared is the value of every constant of vocabulary.go declared with
// the type named typ, in order; for "Key", of every untyped one whose
// name ends in Key.
func declared(t *testing.T, typ string) []string {
	t.Helper()
	f, err := parser.ParseFile(token.NewFileSet(), "vocabulary.go", nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, d := range f.Decls {
		g, ok := d.(*ast.GenDecl)
		if !ok || g.Tok != token.CONST {
			continue
		}
		for _, s := range g.Specs {
			v := s.(*ast.ValueSpec)
			if id, ok := v.Type.(*ast.Ident); typ == "Key" && (v.Type != nil || !strings.HasSuffix(v.Names[0].Name, "Key")) ||
				typ != "Key" && (!ok || id.Name != typ) {
				continue
			}
			for _, e := range v.Values {
				s, err := strconv.Unquote(e.(*ast.BasicLit).Value)
				if err != nil {
					t.Fatal(err)
				}
				out = append(out, s)
			}
		}
	}
	return out
}

func TestTheListsHoldEveryConstant(t *testing.T) {
	for _, c := range []struct {
		typ  string
		list []string
	}{{"Action", logattr.Actions}, {"Result", logattr.Results}, {"Key", logattr.Keys}} {
		if got := declared(t, c.typ); !slices.Equal(got, c.list) {
			t.Errorf("the %s constants are %v, their list %v", c.typ, got, c.list)
		}
	}
}

// The actions docs/logs.md lists in its tables are the package's, in the
// same order, so neither can gain or lose one alone.
func TestTheDocsListTheSameActions(t *testing.T) {
	doc, err := os.ReadFile("../../docs/logs.md")
	if err != nil {
		t.Fatal(err)
	}
	name := regexp.MustCompile("`([a-z_]+)`")
	var listed []string
	for _, line := range strings.Split(string(doc), "\n") {
		if !strings.HasPrefix(line, "| `") {
			continue
		}
		for _, m := range name.FindAllStringSubmatch(strings.Split(line, "|")[1], -1) {
			if !slices.Contains(listed, m[1]) {
				listed = append(listed, m[1])
			}
		}
	}
	if !slices.Equal(listed, logattr.Actions) {
		t.Errorf("docs/logs.md lists the actions\n%v\nthe package\n%v", listed, logattr.Actions)
	}
	for _, k := range logattr.Keys {
		if !strings.Contains(string(doc), "`"+k+"`") && k != logattr.ResultKey {
			t.Errorf("docs/logs.md never names the key %s", k)
		}
	}
}
