package blas

// ProcessCPUTime lets the external comparison benchmark report GFLOP per CPU-second.
var ProcessCPUTime = processCPUTime
