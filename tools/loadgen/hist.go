package main

import (
	"math"
	"math/bits"
	"sync/atomic"
)

// Histogram is an HDR-style log-linear histogram of non-negative integer
// values (the tool records microseconds): exact below 128, then 64
// sub-buckets per power of two, so any recorded value is reported within
// 1/64 (1.6 %) of itself. Record is lock-free and safe for concurrent use;
// the readers (Quantile, Max, …) may run concurrently with it and see a
// recent state. The zero value is ready to use.
type Histogram struct {
	counts [histBuckets]atomic.Uint64
	total  atomic.Uint64
	sum    atomic.Uint64
	max    atomic.Int64
}

const (
	histExact   = 128 // values below this have a bucket each
	histSub     = 64  // sub-buckets per power of two above
	histBuckets = histExact + (64-7)*histSub
)

// bucketOf returns the bucket of v (v ≥ 0).
func bucketOf(v int64) int {
	if v < histExact {
		return int(v)
	}
	shift := bits.Len64(uint64(v)) - 7 // ≥ 1; v>>shift is in [64, 128)
	return histExact + (shift-1)*histSub + int(uint64(v)>>shift) - histSub
}

// bucketRange returns the smallest and largest value of bucket i.
func bucketRange(i int) (lo, hi int64) {
	if i < histExact {
		return int64(i), int64(i)
	}
	shift := (i-histExact)/histSub + 1
	top := int64((i-histExact)%histSub + histSub)
	lo = top << shift
	return lo, lo + (1 << shift) - 1
}

// Record adds one value; negative values count as 0.
func (h *Histogram) Record(v int64) {
	if v < 0 {
		v = 0
	}
	h.counts[bucketOf(v)].Add(1)
	h.total.Add(1)
	h.sum.Add(uint64(v))
	for {
		m := h.max.Load()
		if v <= m || h.max.CompareAndSwap(m, v) {
			return
		}
	}
}

// Count returns how many values were recorded.
func (h *Histogram) Count() uint64 { return h.total.Load() }

// Max returns the largest recorded value, 0 when empty.
func (h *Histogram) Max() int64 { return h.max.Load() }

// Mean returns the mean of the recorded values, 0 when empty.
func (h *Histogram) Mean() float64 {
	n := h.total.Load()
	if n == 0 {
		return 0
	}
	return float64(h.sum.Load()) / float64(n)
}

// Quantile returns the value at quantile q (0 < q ≤ 1): the highest value
// equivalent to the bucket holding the ceil(q·n)-th smallest value, capped
// by the maximum. It returns 0 when empty.
func (h *Histogram) Quantile(q float64) int64 {
	n := h.total.Load()
	if n == 0 {
		return 0
	}
	rank := uint64(math.Ceil(q * float64(n)))
	rank = max(rank, 1)
	var seen uint64
	for i := range h.counts {
		seen += h.counts[i].Load()
		if seen >= rank {
			_, hi := bucketRange(i)
			return min(hi, h.max.Load())
		}
	}
	return h.max.Load()
}

// Merge adds every value of o to h.
func (h *Histogram) Merge(o *Histogram) {
	for i := range o.counts {
		if c := o.counts[i].Load(); c > 0 {
			h.counts[i].Add(c)
		}
	}
	h.total.Add(o.total.Load())
	h.sum.Add(o.sum.Load())
	for {
		m, om := h.max.Load(), o.max.Load()
		if om <= m || h.max.CompareAndSwap(m, om) {
			return
		}
	}
}

// Bucket is one non-empty bucket: values in [Lo, Hi], Count of them.
type Bucket struct {
	Lo, Hi int64
	Count  uint64
}

// Buckets returns the non-empty buckets in increasing order.
func (h *Histogram) Buckets() []Bucket {
	var out []Bucket
	for i := range h.counts {
		if c := h.counts[i].Load(); c > 0 {
			lo, hi := bucketRange(i)
			out = append(out, Bucket{Lo: lo, Hi: hi, Count: c})
		}
	}
	return out
}

// Summary is a latency summary in milliseconds, as written to the report.
type Summary struct {
	P50   float64 `json:"p50"`
	P95   float64 `json:"p95"`
	P99   float64 `json:"p99"`
	Max   float64 `json:"max"`
	Mean  float64 `json:"mean"`
	Count uint64  `json:"count"`
}

// SummaryMS summarises h, whose values are microseconds, in milliseconds.
func (h *Histogram) SummaryMS() Summary {
	ms := func(us int64) float64 { return math.Round(float64(us)) / 1000 }
	return Summary{
		P50: ms(h.Quantile(0.50)), P95: ms(h.Quantile(0.95)), P99: ms(h.Quantile(0.99)),
		Max: ms(h.Max()), Mean: math.Round(h.Mean()) / 1000, Count: h.Count(),
	}
}
