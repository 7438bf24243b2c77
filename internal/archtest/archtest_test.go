// Package archtest checks that the package map at the top of docs/architecture.md matches
// the imports the go tool reports, so the map cannot drift from the code.
package archtest

import (
	"bufio"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

const module = "github.com/jetray/jetray/"

// pkg is the part of `go list -json` this test reads.
type pkg struct {
	ImportPath string
	Imports    []string
}

// listPackages returns every package of the module with its jetray imports (non-test).
func listPackages(t *testing.T, root string) map[string][]string {
	t.Helper()
	cmd := exec.Command("go", "list", "-json", "./...")
	cmd.Dir = root
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	pkgs := map[string][]string{}
	dec := json.NewDecoder(strings.NewReader(string(out)))
	for dec.More() {
		var p pkg
		if err := dec.Decode(&p); err != nil {
			t.Fatalf("go list output: %v", err)
		}
		var own []string
		for _, imp := range p.Imports {
			if strings.HasPrefix(imp, module) {
				own = append(own, strings.TrimPrefix(imp, module))
			}
		}
		slices.Sort(own)
		pkgs[strings.TrimPrefix(p.ImportPath, module)] = own
	}
	return pkgs
}

// row is one line of the package map: the packages it names and the imports it allows.
type row struct {
	pkgs    []string // backticked names in the first cell
	imports []string // backticked names in the third cell; nil for "-"
	text    string   // the third cell as written
}

var ticked = regexp.MustCompile("`([^`]+)`")

// packageMap reads the table under "## Package map".
func packageMap(t *testing.T, root string) []row {
	t.Helper()
	f, err := os.Open(filepath.Join(root, "docs", "architecture.md"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var rows []row
	in := false
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		switch {
		case line == "## Package map":
			in = true
		case in && strings.HasPrefix(line, "## "):
			return rows
		case in && strings.HasPrefix(line, "| `"):
			cells := strings.Split(strings.Trim(line, "|"), " | ")
			if len(cells) != 3 {
				t.Fatalf("package map row has %d cells: %s", len(cells), line)
			}
			r := row{text: strings.TrimSpace(cells[2])}
			for _, m := range ticked.FindAllStringSubmatch(cells[0], -1) {
				r.pkgs = append(r.pkgs, m[1])
			}
			for _, m := range ticked.FindAllStringSubmatch(cells[2], -1) {
				r.imports = append(r.imports, m[1])
			}
			rows = append(rows, r)
		}
	}
	if !in {
		t.Fatal(`docs/architecture.md has no "## Package map" section`)
	}
	return rows
}

func TestPackageMapMatchesImports(t *testing.T) {
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	pkgs := listPackages(t, root)
	rows := packageMap(t, root)
	public := []string{"futures", "framework", "framework/frameworktest", "actors"}
	covered := map[string]bool{}
	for _, r := range rows {
		for _, name := range r.pkgs {
			if prefix, ok := strings.CutSuffix(name, "/..."); ok { // examples/...: public packages only
				for p, imps := range pkgs {
					if p != prefix && !strings.HasPrefix(p, prefix+"/") {
						continue
					}
					covered[p] = true
					for _, imp := range imps {
						if !slices.Contains(public, imp) && !strings.HasPrefix(imp, prefix+"/") {
							t.Errorf("%s imports %s; the map allows public packages only", p, imp)
						}
					}
				}
				continue
			}
			if len(r.pkgs) > 1 { // test directories: public packages and the test harness
				for p, imps := range pkgs {
					if p != name && !strings.HasPrefix(p, name+"/") {
						continue
					}
					covered[p] = true
					for _, imp := range imps {
						if !slices.Contains(public, imp) && imp != "internal/testsupport" && !strings.HasPrefix(imp, name) {
							t.Errorf("%s imports %s; the map allows public packages and internal/testsupport", p, imp)
						}
					}
				}
				continue
			}
			imps, ok := pkgs[name]
			if !ok {
				t.Errorf("the map names %s, which go list does not know", name)
				continue
			}
			covered[name] = true
			want := slices.Sorted(slices.Values(r.imports))
			if !slices.Equal(imps, want) {
				t.Errorf("%s imports %v; the map says %s", name, imps, r.text)
			}
		}
	}
	for p := range pkgs {
		if !covered[p] && !strings.HasPrefix(p, "internal/archtest") {
			t.Errorf("package %s is missing from the package map", p)
		}
	}
}
