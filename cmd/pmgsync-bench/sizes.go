package main

import "time"

// sizes are the dimensions of the workloads.
type sizes struct {
	largeFile       int // bytes of the large report (downloads, large uploads, memory)
	smallFile       int // bytes of the small report
	downloadClients int
	smallClients    int
	memoryUploads   int // concurrent large uploads whose peak memory is measured
	listFiles       int // files of the technician whose list is timed against a big store
	others          int // files of other technicians in the big store
	listGrowth      [2]int
	expired         int // expired files the cleanup sweep removes
	startups        int // server starts timed per store
	rounds          int
	duration        time.Duration
}

// fullSizes are the workloads.
var fullSizes = sizes{
	largeFile:       20 << 20,
	smallFile:       60 << 10,
	downloadClients: 8,
	smallClients:    16,
	memoryUploads:   64,
	listFiles:       100,
	others:          1_000_000,
	listGrowth:      [2]int{1_000, 10_000},
	expired:         100_000,
	startups:        3,
	rounds:          2,
	duration:        5 * time.Second,
}

// quickSizes try the harness in about a minute; their figures mean little.
var quickSizes = sizes{
	largeFile:       4 << 20,
	smallFile:       60 << 10,
	downloadClients: 8,
	smallClients:    16,
	memoryUploads:   64,
	listFiles:       100,
	others:          50_000,
	listGrowth:      [2]int{1_000, 10_000},
	expired:         5_000,
	startups:        2,
	rounds:          1,
	duration:        time.Second,
}
