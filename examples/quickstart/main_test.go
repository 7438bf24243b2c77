package main

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"os"
	"regexp"
	"strings"
	"testing"
)

// printed matches a Println line of main.go and the output its comment promises.
var printed = regexp.MustCompile(`^\s*fmt\.Println\(.*\)\s*// (.+)$`)

// TestQuickStart runs the quick start and checks it prints what its comments say, in order.
func TestQuickStart(t *testing.T) {
	src, err := os.ReadFile("main.go")
	if err != nil {
		t.Fatal(err)
	}
	var want []string
	for _, line := range strings.Split(string(src), "\n") {
		if m := printed.FindStringSubmatch(line); m != nil {
			want = append(want, strings.TrimSpace(m[1]))
		}
	}
	if len(want) == 0 {
		t.Fatal("main.go has no Println line with its output in a comment")
	}
	got := strings.Split(strings.TrimSpace(captureStdout(t, main)), "\n")
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("the quick start printed\n%s\nits comments say\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// TestReadmeQuickStart fails when the README's "Quick start in Go" block is not main.go.
func TestReadmeQuickStart(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	block, err := goBlockUnder(readme, "## Quick start in Go")
	if err != nil {
		t.Fatal(err)
	}
	src, err := os.ReadFile("main.go")
	if err != nil {
		t.Fatal(err)
	}
	b, s := strings.Split(strings.TrimSpace(block), "\n"), strings.Split(strings.TrimSpace(string(src)), "\n")
	for i := 0; i < max(len(b), len(s)); i++ {
		var bl, sl string
		if i < len(b) {
			bl = b[i]
		}
		if i < len(s) {
			sl = s[i]
		}
		if bl != sl {
			t.Fatalf("README.md's Go quick start differs from examples/quickstart/main.go at line %d of the block:\nREADME:  %q\nmain.go: %q\n(change both: the README shows main.go)", i+1, bl, sl)
		}
	}
}

// goBlockUnder returns the first ```go block after the heading line, before the next heading.
func goBlockUnder(md []byte, heading string) (string, error) {
	sc := bufio.NewScanner(bytes.NewReader(md))
	var out strings.Builder
	state := 0 // 0 before the heading, 1 under it, 2 in the block
	for sc.Scan() {
		line := sc.Text()
		switch {
		case state == 0 && strings.TrimSpace(line) == heading:
			state = 1
		case state == 1 && strings.HasPrefix(line, "## "):
			return "", fmt.Errorf("no ```go block under %q", heading)
		case state == 1 && strings.TrimSpace(line) == "```go":
			state = 2
		case state == 2 && strings.TrimSpace(line) == "```":
			return out.String(), nil
		case state == 2:
			out.WriteString(line + "\n")
		}
	}
	if err := sc.Err(); err != nil {
		return "", err
	}
	return "", fmt.Errorf("no complete ```go block under %q", heading)
}

// captureStdout runs f with os.Stdout read into the returned string.
func captureStdout(t *testing.T, f func()) string {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	read := make(chan string, 1)
	go func() {
		b, _ := io.ReadAll(r)
		read <- string(b)
	}()
	stdout := os.Stdout
	os.Stdout = w
	defer func() { os.Stdout = stdout }()
	f()
	os.Stdout = stdout
	w.Close()
	out := <-read
	r.Close()
	return out
}
