package bench

import (
	"fmt"
	"os"
	"runtime"
	"strings"
	"time"
)

// machine describes where the run happened.
type machine struct {
	CPUs       int    `json:"cpus"`
	GOMAXPROCS int    `json:"gomaxprocs"`
	CPUModel   string `json:"cpu_model,omitempty"`
	Go         string `json:"go"`
	OSArch     string `json:"os_arch"`
	Time       string `json:"time"`
	LoadAvg    string `json:"loadavg,omitempty"` // /proc/loadavg when the run started: other load skews figures
}

func machineInfo() machine {
	m := machine{CPUs: runtime.NumCPU(), GOMAXPROCS: runtime.GOMAXPROCS(0), Go: runtime.Version(),
		OSArch: runtime.GOOS + "/" + runtime.GOARCH, Time: time.Now().UTC().Format(time.RFC3339)}
	if data, err := os.ReadFile("/proc/loadavg"); err == nil {
		if f := strings.Fields(string(data)); len(f) >= 3 {
			m.LoadAvg = strings.Join(f[:3], " ")
		}
	}
	if data, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for l := range strings.Lines(string(data)) {
			if k, v, ok := strings.Cut(l, ":"); ok && strings.TrimSpace(k) == "model name" {
				m.CPUModel = strings.TrimSpace(v)
				break
			}
		}
	}
	return m
}

func (m machine) String() string {
	model := m.CPUModel
	if model == "" {
		model = "unknown CPU"
	}
	s := fmt.Sprintf("%d CPUs (%s), GOMAXPROCS %d, %s %s", m.CPUs, model, m.GOMAXPROCS, m.Go, m.OSArch)
	if m.LoadAvg != "" {
		s += ", load average " + m.LoadAvg
	}
	return s
}
