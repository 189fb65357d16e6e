package perf

// The thread-pressure scenarios of BenchmarkPlacementQuality. Each is a set of node groups with
// their own task limits and usage, and a burst of Deployments whose replicas are created
// together. Every pod requests 100m CPU and 256Mi, far below what the nodes offer, so CPU,
// memory and pod count never decide a placement: only threads can go wrong.
//
// The numbers are chosen so that an even spread of the burst (what the default profile and a
// maxSkew: 1 hostname spread do) pushes the weakest nodes past their limit, while the
// cluster as a whole has room for every pod within the nodes' usable share, except in
// "saturated", where it has not and the right answer is to leave the rest Pending.

// nodeGroup is count identical nodes.
type nodeGroup struct {
	name  string
	count int
	// threads is the node's tasks at the start (threadaware.io/threads).
	threads    int64
	threadsMax int64
	pidMax     int64
	// podsPIDs and podsPIDsMax are the kubepods cgroup's pids.current and pids.max; a zero
	// podsPIDsMax leaves the cgroup unlimited (the annotation is absent).
	podsPIDs    int64
	podsPIDsMax int64
}

// deployment is one workload of the burst: replicas pods that each declare expectedThreads.
type deployment struct {
	name            string
	replicas        int
	expectedThreads int64
}

type scenario struct {
	name        string
	description string
	nodes       []nodeGroup
	burst       []deployment
}

// Kernel limits of real machines: pid_max 32768 is the old kernel default, 4194304 what
// systemd sets; threads-max is about RAM/128KiB (63k for 8 GiB, 126k for 16 GiB, 507k for
// 64 GiB).
const (
	pidMaxOld     = 32768
	pidMaxSystemd = 4194304
	threadsMax8G  = 63204
	threadsMax16G = 126859
	threadsMax64G = 507436
)

var scenarios = []scenario{
	{
		name:        "mixed-limits",
		description: "12 nodes of three kinds: pid_max 32768, an 8 GiB machine, a 64 GiB machine; 4 Deployments x 24 replicas, 3500-5000 threads each",
		nodes: []nodeGroup{
			{name: "pidmax32k", count: 4, threads: 6000, threadsMax: threadsMax16G, pidMax: pidMaxOld},
			{name: "small", count: 4, threads: 20000, threadsMax: threadsMax8G, pidMax: pidMaxSystemd},
			{name: "big", count: 4, threads: 10000, threadsMax: threadsMax64G, pidMax: pidMaxSystemd},
		},
		burst: []deployment{
			{name: "api", replicas: 24, expectedThreads: 4000},
			{name: "search", replicas: 24, expectedThreads: 5000},
			{name: "ingest", replicas: 24, expectedThreads: 4000},
			{name: "batch", replicas: 24, expectedThreads: 3500},
		},
	},
	{
		name:        "hot-nodes",
		description: "12 identical 16 GiB nodes, 3 of them already at 110k of 126859 tasks; 3 Deployments x 16 replicas of 6000 threads",
		nodes: []nodeGroup{
			{name: "hot", count: 3, threads: 110000, threadsMax: threadsMax16G, pidMax: pidMaxSystemd},
			{name: "cool", count: 9, threads: 8000, threadsMax: threadsMax16G, pidMax: pidMaxSystemd},
		},
		burst: []deployment{
			{name: "jvm-a", replicas: 16, expectedThreads: 6000},
			{name: "jvm-b", replicas: 16, expectedThreads: 6000},
			{name: "jvm-c", replicas: 16, expectedThreads: 6000},
		},
	},
	{
		name:        "pods-pids-limit",
		description: "8 nodes with room in the kernel, 4 of them with a kubepods pids.max of 12288 (5000 used); 2 Deployments x 16 replicas of 2500 threads",
		nodes: []nodeGroup{
			{name: "capped", count: 4, threads: 9000, threadsMax: threadsMax64G, pidMax: pidMaxSystemd, podsPIDs: 5000, podsPIDsMax: 12288},
			{name: "uncapped", count: 4, threads: 9000, threadsMax: threadsMax64G, pidMax: pidMaxSystemd, podsPIDs: 3000},
		},
		burst: []deployment{
			{name: "workers", replicas: 16, expectedThreads: 2500},
			{name: "crawlers", replicas: 16, expectedThreads: 2500},
		},
	},
	{
		name:        "saturated",
		description: "10 nodes with pid_max 32768 and 5000 tasks; one Deployment of 60 replicas of 5000 threads, more than the cluster holds",
		nodes: []nodeGroup{
			{name: "pidmax32k", count: 10, threads: 5000, threadsMax: threadsMax16G, pidMax: pidMaxOld},
		},
		burst: []deployment{
			{name: "fanout", replicas: 60, expectedThreads: 5000},
		},
	},
}
