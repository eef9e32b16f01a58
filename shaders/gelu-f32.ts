/**
 * Exact (erf) GELU in f32, as torch computes it: gelu(x) = x * 0.5 * (1 + erf(x / sqrt(2))).
 * WGSL has no erf, so erf_f32 below evaluates one in pieces whose coefficients were fitted for
 * this file (least squares on 4000 Chebyshev-spaced nodes against float64 erf and erfcx, then
 * rounded to f32):
 *   |x| < 1:      erf(x) = x * P(x^2),               P of degree 6: fit error 1.2e-9
 *   1 <= |x| < 4: erf(x) = 1 - exp(-x^2) * Q(|x| - 2.5), Q ~ erfcx of degree 11: fit error 3e-9
 *   |x| >= 4:     erf(x) = +-1 (erfc(4) = 1.5e-8 is below half an f32 ulp of 1)
 * Evaluated in f32 the total error is about one ulp of the result: <= 1.4e-7 absolute (measured
 * on 5e5 points with exact f32 rounding); the bound tests assert allows for a GPU exp of a few ulp.
 * The fit is polynomial (no division), so it costs ~10 FMAs and, in the middle piece, one exp.
 *
 * GPT-2's tanh approximation (gelu_tanh, transformers' gelu_new) is the other GELU here.
 *
 * The elementwise kernel maps a flat f32 array, row padding included (act(0) = 0 keeps zero
 * padding zero); geluF32Wgsl() gives the same functions to GEMM epilogues. It also applies the
 * classifier heads' tanh and ReLU: one small pipeline for those instead of more GEMM variants,
 * each of which costs seconds to compile on software adapters.
 */
import { wgsl } from 'wgsl-preprocessor/wgsl-preprocessor.js';

/** P(s) coefficients, highest degree first (s = x^2). */
export const ERF_SMALL = [
  7.882500358391553e-5, -0.0008018859080038965, 0.005189312621951103, -0.02685432881116867, 0.11283597350120544,
  -0.3761262595653534, 1.1283791065216064,
];
/** Q(t) coefficients, highest degree first (t = |x| - 2.5); Q(t) ~ exp(x^2) erfc(x). */
export const ERF_LARGE = [
  -4.2694122726061323e-7, 1.6718327060516458e-6, -3.7443910514411982e-6, 1.4353506230690982e-5, -5.952961146249436e-5,
  0.00021297235798556358, -0.0007331466185860336, 0.002465982222929597, -0.008001696318387985, 0.024938203394412994,
  -0.07434733957052231, 0.21080635488033295,
];

/** An f32 literal that parses back to exactly Math.fround(v) (9 significant digits round-trip). */
export function f32Lit(v: number): string {
  if (!Number.isFinite(v)) throw new RangeError(`${v} has no WGSL f32 literal`);
  return `${Math.fround(v).toPrecision(9)}f`;
}

function horner(coefficients: number[], variable: string): string {
  return coefficients.slice(1).reduce((acc, c) => `fma(${acc}, ${variable}, ${f32Lit(c)})`, f32Lit(coefficients[0]));
}

/** WGSL functions erf_f32 and gelu_f32 (for epilogues of other kernels). */
export function geluF32Wgsl(): string {
  return `
fn erf_f32(x: f32) -> f32 {
  let a = abs(x);
  var r = 1.0f;
  if (a < 1.0f) {
    let s = a * a;
    r = a * ${horner(ERF_SMALL, 's')};
  } else if (a < 4.0f) {
    let t = a - 2.5f;
    r = 1.0f - exp(-(a * a)) * ${horner(ERF_LARGE, 't')};
  }
  return select(r, -r, x < 0.0f);
}

// torch's order of operations: (x * 0.5) * (1 + erf(x * M_SQRT1_2)).
fn gelu_f32(x: f32) -> f32 {
  return x * 0.5f * (1.0f + erf_f32(x * ${f32Lit(Math.SQRT1_2)}));
}
`;
}

/**
 * tanh through exp of a non-positive argument, so it never overflows (some backends compute the
 * builtin tanh as a ratio of exps that is inf/inf = NaN for large |x|). Near 0, 1 - e^(-2|x|)
 * cancels to an absolute (not relative) error of ~1e-7: harmless before one more GEMM.
 */
export function tanhF32Wgsl(): string {
  return `
fn tanh_f32(x: f32) -> f32 {
  let e = exp(-2.0f * abs(x));
  let t = (1.0f - e) / (1.0f + e);
  return select(t, -t, x < 0.0f);
}
`;
}

/**
 * GPT-2's tanh GELU, 0.5 x (1 + tanh(u)) with u = sqrt(2 / pi) (x + 0.044715 x^3), evaluated as
 * x / (1 + exp(-2u)) (1 + tanh(u) = 2 / (1 + e^(-2u))): no cancellation where tanh(u) nears -1,
 * so the error is a few ulp of the result everywhere (torch's f32 form loses digits there). For
 * very negative x, exp overflows to +inf and x / inf = -0, the limit; x^3 overflowing past
 * |x| ~ 7e12 gives u = +-inf with the same limits.
 */
export function geluTanhF32Wgsl(): string {
  return `
fn gelu_tanh_f32(x: f32) -> f32 {
  let u = ${f32Lit(Math.sqrt(2 / Math.PI))} * (x + ${f32Lit(0.044715)} * (x * x * x));
  return x / (1.0f + exp(-2.0f * u));
}
`;
}

export type ActivationF32 = 'gelu' | 'gelu_tanh' | 'tanh' | 'relu' | 'silu';

/** The WGSL functions `activation` needs (none for ReLU). */
export function activationF32Wgsl(activation: ActivationF32): string {
  if (activation === 'gelu') return geluF32Wgsl();
  if (activation === 'gelu_tanh') return geluTanhF32Wgsl();
  // SiLU (Marian's swish), x * sigmoid(x): exp(-x) = inf for very negative x gives -0, its limit.
  if (activation === 'silu') return '\nfn silu_f32(x: f32) -> f32 {\n  return x / (1.0f + exp(-x));\n}\n';
  return activation === 'tanh' ? tanhF32Wgsl() : '';
}

/** A WGSL expression applying `activation` to `value`. */
export function activationF32Call(activation: ActivationF32, value: string): string {
  return activation === 'relu' ? `max(${value}, 0.0f)` : `${activation}_f32(${value})`;
}

/** Uniform layout (u32 words). */
export const GELU_F32_PARAM_FIELDS = ['count', 'gridX', 'pad0', 'pad1'] as const;

export const GELU_F32_WORKGROUP = 64;

/** Elementwise activation (GELU by default) over `count` f32 values, padding included. */
export function geluF32Shader(activation: ActivationF32 = 'gelu'): string {
  return wgsl`
struct Params { count: u32, gridX: u32, pad0: u32, pad1: u32 }
@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> y: array<f32>;
${activationF32Wgsl(activation)}
@compute @workgroup_size(${GELU_F32_WORKGROUP})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let i = (wid.y * params.gridX + wid.x) * ${GELU_F32_WORKGROUP}u + lid;
  if (i < params.count) {
    y[i] = ${activationF32Call(activation, 'x[i]')};
  }
}
`;
}
