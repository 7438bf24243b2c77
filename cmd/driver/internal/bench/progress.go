package bench

import (
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"
)

// progress shows which benchmark runs: a bar redrawn in place on a terminal, one line per
// finished benchmark otherwise.
type progress struct {
	w     io.Writer
	tty   bool
	total int
	n     int
	stop  chan struct{}
	wg    sync.WaitGroup
	mu    sync.Mutex // serialises writes of the bar goroutine and end
}

func newProgress(w io.Writer, total int) *progress {
	return &progress{w: w, tty: isTerminal(w), total: total}
}

// isTerminal reports whether w is a character device (a terminal).
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// begin starts benchmark name, expected to take about d plus its warm-up.
func (p *progress) begin(name string, d time.Duration) {
	p.n++
	if !p.tty {
		return
	}
	p.stop = make(chan struct{})
	start := time.Now()
	expect := d + d/10
	n := p.n
	draw := func() {
		frac := min(1, float64(time.Since(start))/float64(expect))
		const width = 30
		fill := int(frac * width)
		p.mu.Lock()
		fmt.Fprintf(p.w, "\r\033[K[%s%s] %d/%d %s %.1fs", strings.Repeat("=", fill), strings.Repeat(" ", width-fill),
			n, p.total, name, time.Since(start).Seconds())
		p.mu.Unlock()
	}
	draw()
	stop := p.stop
	p.wg.Go(func() {
		t := time.NewTicker(100 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
				draw()
			}
		}
	})
}

// end finishes the current benchmark with a result line.
func (p *progress) end(line string) {
	if p.stop != nil {
		close(p.stop)
		p.wg.Wait()
		p.stop = nil
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.tty {
		fmt.Fprint(p.w, "\r\033[K")
	}
	fmt.Fprintf(p.w, "[%d/%d] %s\n", p.n, p.total, line)
}
