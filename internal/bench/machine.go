package bench

import (
	"bufio"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
)

// Machine describes where a bench run happened, for the record next to its numbers.
type Machine struct {
	CPUs     int    // what nproc prints
	Model    string // /proc/cpuinfo "model name"
	MemBytes int64  // /proc/meminfo MemTotal
	Go       string // go version and platform
}

// ReadMachine reads this machine's description. Fields it cannot read stay empty.
func ReadMachine() Machine {
	m := Machine{CPUs: runtime.NumCPU(), Go: runtime.Version() + " " + runtime.GOOS + "/" + runtime.GOARCH}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		m.Model = CPUModel(string(b))
	}
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		m.MemBytes = MemTotal(string(b))
	}
	return m
}

// CPUModel is the first "model name" of a /proc/cpuinfo text ("" when absent).
func CPUModel(cpuinfo string) string {
	sc := bufio.NewScanner(strings.NewReader(cpuinfo))
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

// MemTotal is MemTotal of a /proc/meminfo text in bytes (0 when absent).
func MemTotal(meminfo string) int64 {
	sc := bufio.NewScanner(strings.NewReader(meminfo))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) >= 2 && f[0] == "MemTotal:" {
			kb, err := strconv.ParseInt(f[1], 10, 64)
			if err != nil {
				return 0
			}
			return kb * 1024
		}
	}
	return 0
}

// LoadAverage is the 1, 5 and 15 minute load averages of a /proc/loadavg text.
func LoadAverage(loadavg string) ([3]float64, error) {
	var l [3]float64
	f := strings.Fields(loadavg)
	if len(f) < 3 {
		return l, fmt.Errorf("load average %q: want three numbers", loadavg)
	}
	for i := range l {
		v, err := strconv.ParseFloat(f[i], 64)
		if err != nil {
			return l, fmt.Errorf("load average %q: %w", loadavg, err)
		}
		l[i] = v
	}
	return l, nil
}

// Loaded says whether a load average means the numbers are inflated: more runnable work
// than CPUs over the last minute or five.
func Loaded(l [3]float64, cpus int) bool {
	return cpus > 0 && (l[0] > float64(cpus) || l[1] > float64(cpus))
}
