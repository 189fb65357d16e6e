package threadaware

// The spread of a burst whose demand nobody knows yet.
//
// Replicas of one workload with no expected-threads annotation and no learned demand are
// alike: each gets defaultPodThreads, which says nothing about what they will use. The
// placement that keeps every node furthest from its limit then puts them in proportion to
// each node's room, not evenly: an even spread (what maxSkew does, and what D / (W + D)
// does) fills a small node as fast as a large one, and the small node is the one that fails
// when the replicas grow. For such a pod the spread part of the score is the share of the
// node's room, before this workload's pods, left after placing it: placing each replica where
// that share stays largest gives node i about room_i / sum(room) of the replicas.

// unknownScale is how much finer than [0, MaxNodeScore] the raw score of a pod whose demand
// nobody knows is (NormalizeScore spreads it over the range).
const unknownScale = 10_000

// roomWeightedSpread returns the spread score, in [0, maxScore*unknownScale], of placing a pod with demand d
// on a node with room left (the smaller of the node-wide and kubepods rooms, Filter's figures)
// whose pods of the same workload are projected at w tasks. w is in room's figures already
// (held pods reserve what they may still add), so room + w is the room before the workload.
func roomWeightedSpread(room, w, d int64) int64 {
	before := room + w
	left := before - w - d
	if before <= 0 || left <= 0 {
		return 0
	}
	// Both are below 2^40 (counts below 2^30, demands bounded) and the factor is 10^6 < 2^20:
	// the product cannot overflow.
	return left * (maxScore * unknownScale) / before
}

// room returns what Filter lets onto the node beyond used and in-flight tasks: the smaller of
// the node-wide and the kubepods rooms.
func (e *nodeEntry) room(departed, inFlight int64) int64 {
	return roomOf(int64(e.usable), max(0, int64(e.threads)-departed), inFlight, e.podsLimited, int64(e.podsUsable), max(0, int64(e.podsPIDs)-departed))
}

// roomOf is Filter's inequality turned into a figure: a pod with demand d passes Filter's task
// checks exactly when d <= roomOf(...).
func roomOf(usable, used, inFlight int64, podsLimited bool, podsUsable, podsUsed int64) int64 {
	room := usable - used - inFlight
	if podsLimited {
		room = min(room, podsUsable-podsUsed-inFlight)
	}
	return room
}
