// Arithmetic with its rounding spelled out, for code that both backends run
// and that must round identically on both. Device: the _rn intrinsics, which
// nvcc never contracts into FMAs. Host: plain operations (the host build does
// not contract: ISO C++ mode, no -mfma; kernels/cpu/mandel_hwy.cpp even says
// -ffp-contract=off).
#pragma once

#include <cmath>

#include "kernels/host_device.h"

namespace fractal {

#if defined(__CUDACC__)
#define FRACTAL_HD_INLINE __host__ __device__ __forceinline__
#else
#define FRACTAL_HD_INLINE inline
#endif

FRACTAL_HD_INLINE float mul_rn(float a, float b) {
#ifdef __CUDA_ARCH__
  return __fmul_rn(a, b);
#else
  return a * b;
#endif
}
FRACTAL_HD_INLINE double mul_rn(double a, double b) {
#ifdef __CUDA_ARCH__
  return __dmul_rn(a, b);
#else
  return a * b;
#endif
}
FRACTAL_HD_INLINE float add_rn(float a, float b) {
#ifdef __CUDA_ARCH__
  return __fadd_rn(a, b);
#else
  return a + b;
#endif
}
FRACTAL_HD_INLINE double add_rn(double a, double b) {
#ifdef __CUDA_ARCH__
  return __dadd_rn(a, b);
#else
  return a + b;
#endif
}
FRACTAL_HD_INLINE float sub_rn(float a, float b) {
#ifdef __CUDA_ARCH__
  return __fsub_rn(a, b);
#else
  return a - b;
#endif
}
FRACTAL_HD_INLINE double sub_rn(double a, double b) {
#ifdef __CUDA_ARCH__
  return __dsub_rn(a, b);
#else
  return a - b;
#endif
}
FRACTAL_HD_INLINE double div_rn(double a, double b) {
#ifdef __CUDA_ARCH__
  return __ddiv_rn(a, b);
#else
  return a / b;
#endif
}
FRACTAL_HD_INLINE float fma_rn(float a, float b, float c) {
#ifdef __CUDA_ARCH__
  return __fmaf_rn(a, b, c);
#else
  return std::fma(a, b, c);
#endif
}
FRACTAL_HD_INLINE double fma_rn(double a, double b, double c) {
#ifdef __CUDA_ARCH__
  return __fma_rn(a, b, c);
#else
  return std::fma(a, b, c);
#endif
}

}  // namespace fractal
