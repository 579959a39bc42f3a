// FRACTAL_HD marks functions that both backends compile: __host__ __device__
// under nvcc, nothing for the host compiler. Code marked with it is the one
// definition the CPU backend runs and the CUDA kernels run.
#pragma once

#if defined(__CUDACC__)
#define FRACTAL_HD __host__ __device__
#else
#define FRACTAL_HD
#endif
