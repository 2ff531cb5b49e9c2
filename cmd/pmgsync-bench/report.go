package main

import (
	"bufio"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"
)

// Report is the outcome of a run, as the table shows it and the JSON file
// holds it.
type Report struct {
	Started  time.Time `json:"started"`
	Seconds  float64   `json:"seconds"`
	Quick    bool      `json:"quick"`
	Machine  Machine   `json:"machine"`
	Rows     []Row     `json:"rows"`
	Failures []string  `json:"failures,omitempty"`
}

// Row is one figure of pmgsync next to its reference.
type Row struct {
	Workload  string  `json:"workload"`
	Unit      string  `json:"unit"`
	Pmgsync   float64 `json:"pmgsync"`
	Reference float64 `json:"reference"`
	// RefName says what the reference is: "nginx sendfile", "disk"…
	RefName string `json:"reference_name"`
	// Ratio is Pmgsync / Reference.
	Ratio float64 `json:"ratio"`
	Goal  Goal    `json:"goal"`
	Met   bool    `json:"met"`
	// Details are the other figures of the measurement: rounds, latency
	// percentiles, counts.
	Details map[string]any `json:"details,omitempty"`
}

// Goal is what a row must meet.
type Goal struct {
	Text string `json:"text"`
	// Check is "ratio>=", "ratio<=" or "value<=": which of the row's
	// figures is compared with Limit, and how; "" for a row that only
	// gives context, which has no goal.
	Check string  `json:"check"`
	Limit float64 `json:"limit"`
}

// Goals of the issue.
func atLeastRatio(limit float64, of string) Goal {
	return Goal{Text: fmt.Sprintf("≥ %g × %s", limit, of), Check: "ratio>=", Limit: limit}
}

func atMostRatio(limit float64, of string) Goal {
	return Goal{Text: fmt.Sprintf("≤ %g × %s", limit, of), Check: "ratio<=", Limit: limit}
}

func atMostValue(limit float64, unit string) Goal {
	return Goal{Text: fmt.Sprintf("< %g %s", limit, unit), Check: "value<=", Limit: limit}
}

// noGoal is the goal of a row that has none: it shows another reference,
// for context.
var noGoal = Goal{Text: "(context)"}

// newRow returns the row of pmgsync's figure against the reference's, with
// its ratio and whether it meets goal.
func newRow(workload, unit string, pmg, ref float64, refName string, goal Goal) Row {
	r := Row{Workload: workload, Unit: unit, Pmgsync: pmg, Reference: ref, RefName: refName, Goal: goal}
	if ref != 0 {
		r.Ratio = pmg / ref
	}
	switch goal.Check {
	case "ratio>=":
		r.Met = ref != 0 && r.Ratio >= goal.Limit
	case "ratio<=":
		r.Met = ref != 0 && r.Ratio <= goal.Limit
	case "value<=":
		r.Met = pmg <= goal.Limit
	case "":
		r.Met = true
	}
	return r
}

// format shows a figure with the precision its size deserves.
func format(v float64) string {
	switch a := math.Abs(v); {
	case a >= 100:
		return strconv.FormatFloat(v, 'f', 0, 64)
	case a >= 10:
		return strconv.FormatFloat(v, 'f', 1, 64)
	default:
		return strconv.FormatFloat(v, 'f', 2, 64)
	}
}

// writeTable prints the report as an aligned table.
func writeTable(w io.Writer, r *Report) {
	m := r.Machine
	fmt.Fprintf(w, "pmgsync-bench, %s: %d CPUs (%s), %s RAM, %s on %s; %s, %.0fs",
		r.Started.Format("2006-01-02 15:04 UTC"), m.CPUs, m.CPUModel, formatGiB(m.MemoryBytes), m.FileSystem, m.Device, m.Kernel, r.Seconds)
	if r.Quick {
		fmt.Fprint(w, " (quick mode: small sizes, figures indicative only)")
	}
	fmt.Fprintln(w)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "workload\tpmgsync\treference\tratio\tgoal\tresult")
	for _, row := range r.Rows {
		result := "ok"
		switch {
		case row.Goal.Check == "":
			result = "-"
		case !row.Met:
			result = "MISS"
		}
		fmt.Fprintf(tw, "%s\t%s %s\t%s %s (%s)\t%s\t%s\t%s\n", row.Workload,
			format(row.Pmgsync), row.Unit, format(row.Reference), row.Unit, row.RefName,
			format(row.Ratio), row.Goal.Text, result)
	}
	tw.Flush()
	for _, f := range r.Failures {
		fmt.Fprintln(w, "FAILED:", f)
	}
}

func formatGiB(b int64) string { return fmt.Sprintf("%.0f GiB", float64(b)/(1<<30)) }

// Machine describes where the run took place.
type Machine struct {
	CPUs        int    `json:"cpus"`
	CPUModel    string `json:"cpu_model"`
	MemoryBytes int64  `json:"memory_bytes"`
	Kernel      string `json:"kernel"`
	GoVersion   string `json:"go_version"`
	// Device and FileSystem hold the work directory.
	Device     string `json:"device"`
	FileSystem string `json:"file_system"`
	Load1      string `json:"load_average_1m_at_start"`
}

// describeMachine reads the machine's description from /proc.
func describeMachine(workDir string) Machine {
	m := Machine{CPUs: runtime.NumCPU(), GoVersion: runtime.Version()}
	m.CPUModel = procField("/proc/cpuinfo", "model name")
	if kb, err := strconv.ParseInt(strings.TrimSuffix(procField("/proc/meminfo", "MemTotal"), " kB"), 10, 64); err == nil {
		m.MemoryBytes = kb << 10
	}
	var u syscall.Utsname
	if syscall.Uname(&u) == nil {
		m.Kernel = "Linux " + utsString(u.Release[:])
	}
	if data, err := os.ReadFile("/proc/loadavg"); err == nil {
		m.Load1, _, _ = strings.Cut(string(data), " ")
	}
	m.Device, m.FileSystem = mountOf(workDir)
	return m
}

// procField returns the value of the first "key: value" line of a /proc file.
func procField(path, key string) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if ok && strings.TrimSpace(k) == key {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

// mountOf returns the device and file system type of the mount that holds
// dir: the /proc/mounts entry with the longest mount point above it.
func mountOf(dir string) (device, fsType string) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return "", ""
	}
	data, err := os.ReadFile("/proc/mounts")
	if err != nil {
		return "", ""
	}
	best := -1
	for _, line := range strings.Split(string(data), "\n") {
		f := strings.Fields(line)
		if len(f) < 3 {
			continue
		}
		mp := f[1]
		if (abs == mp || strings.HasPrefix(abs, strings.TrimSuffix(mp, "/")+"/")) && len(mp) > best {
			best, device, fsType = len(mp), f[0], f[2]
		}
	}
	return device, fsType
}

func utsString(b []int8) string {
	s := make([]byte, 0, len(b))
	for _, c := range b {
		if c == 0 {
			break
		}
		s = append(s, byte(c))
	}
	return string(s)
}
