package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// cpuMeter reads the CPU time, user and system, that a server has used so
// far; nil when it cannot be read.
type cpuMeter func() (time.Duration, error)

// clockTick is the unit of /proc/PID/stat's times: USER_HZ, 100 on Linux.
const clockTick = 10 * time.Millisecond

// processCPU returns the CPU time that process pid has used (all its
// threads), and its parent's pid.
func processCPU(pid int) (cpu time.Duration, ppid int, err error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, 0, err
	}
	// The command name, in parentheses, may hold spaces: fields count from
	// the last ')'.
	s := string(data)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0, 0, fmt.Errorf("/proc/%d/stat: no command name", pid)
	}
	f := strings.Fields(s[i+1:])
	// f[0] is field 3 (state): ppid is field 4, utime 14, stime 15.
	if len(f) < 13 {
		return 0, 0, fmt.Errorf("/proc/%d/stat: %d fields", pid, len(f))
	}
	ppid, err = strconv.Atoi(f[1])
	if err != nil {
		return 0, 0, err
	}
	utime, err := strconv.ParseInt(f[11], 10, 64)
	if err != nil {
		return 0, 0, err
	}
	stime, err := strconv.ParseInt(f[12], 10, 64)
	if err != nil {
		return 0, 0, err
	}
	return time.Duration(utime+stime) * clockTick, ppid, nil
}

// pidMeter meters one process.
func pidMeter(pid int) cpuMeter {
	return func() (time.Duration, error) {
		cpu, _, err := processCPU(pid)
		return cpu, err
	}
}

// nginxMeter meters nginx: the master whose pid is in pidFile and its
// workers. Nil if pidFile is "".
func nginxMeter(pidFile string) cpuMeter {
	if pidFile == "" {
		return nil
	}
	return func() (time.Duration, error) {
		data, err := os.ReadFile(pidFile)
		if err != nil {
			return 0, err
		}
		master, err := strconv.Atoi(strings.TrimSpace(string(data)))
		if err != nil {
			return 0, fmt.Errorf("%s: %w", pidFile, err)
		}
		total, _, err := processCPU(master)
		if err != nil {
			return 0, err
		}
		dirs, _ := filepath.Glob("/proc/[0-9]*")
		for _, dir := range dirs {
			pid, err := strconv.Atoi(filepath.Base(dir))
			if err != nil || pid == master {
				continue
			}
			cpu, ppid, err := processCPU(pid)
			if err == nil && ppid == master {
				total += cpu
			}
		}
		return total, nil
	}
}

// selfCPU returns the CPU time the bench itself, the clients, has used.
func selfCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// measureLoad runs op under l and returns the result and its details,
// with the CPU time per operation of the server (metered by server, if not
// nil) and of the clients.
func measureLoad(ctx context.Context, l load, op operation, server cpuMeter) (result, map[string]any) {
	var before time.Duration
	var serverErr error
	if server != nil {
		before, serverErr = server()
	}
	self := selfCPU()
	res := l.run(ctx, op)
	details := loadDetails(&res)
	if res.ops == 0 {
		return res, details
	}
	details["client_cpu_ms_per_op"] = ms(selfCPU()-self) / float64(res.ops)
	if server != nil && serverErr == nil {
		if after, err := server(); err == nil {
			details["server_cpu_ms_per_op"] = ms(after-before) / float64(res.ops)
		}
	}
	return res, details
}
