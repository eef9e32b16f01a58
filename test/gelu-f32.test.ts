import { describe, expect, it } from 'vitest';
import { erf64, gelu64, geluTanh64 } from '../src/reference/gelu-f32.js';
import { suite } from './cases/gelu-f32.js';
import { runSuite } from './run-suite.js';

runSuite(suite);

describe('float64 erf reference', () => {
  // Values of erf from tables (to 16 digits).
  const table: [number, number][] = [
    [0, 0],
    [0.1, 0.1124629160182849],
    [0.5, 0.5204998778130465],
    [1, 0.8427007929497149],
    [1.5, 0.9661051464753108],
    [2, 0.9953222650189527],
    [3, 0.9999779095030014],
    [4, 0.9999999845827421],
    [5, 0.9999999999984626],
  ];
  it.each(table)('erf(%d)', (x, want) => {
    expect(Math.abs(erf64(x) - want)).toBeLessThan(1e-15);
    expect(Math.abs(erf64(-x) + want)).toBeLessThan(1e-15);
  });
  it('gives GELU its known values', () => {
    expect(gelu64(0)).toBe(0);
    expect(Math.abs(gelu64(1) - 0.8413447460685429)).toBeLessThan(1e-15);
    expect(Math.abs(gelu64(-1) + 0.15865525393145707)).toBeLessThan(1e-15);
  });
});

describe('float64 tanh GELU reference (gelu_new)', () => {
  it('gives its known values', () => {
    // Python's math module in float64: 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))).
    const table: [number, number][] = [
      [-2, -0.04540230591222494],
      [-1, -0.15880800939172324],
      [0.5, 0.34571400982514394],
      [1, 0.8411919906082768],
      [3, 2.996362607918227],
    ];
    for (const [x, want] of table) expect(Math.abs(geluTanh64(x) - want)).toBeLessThan(1e-15);
  });
});
