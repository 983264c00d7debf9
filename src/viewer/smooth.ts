/**
 * TensorBoard's smoothing: an exponential moving average debiased by 1 - w^n, so the first points
 * are not dragged towards zero. Non-finite values pass through unsmoothed and do not poison the
 * average; a weight of 0 leaves the series unchanged.
 */
export function debiasedEma(values: ArrayLike<number | null>, weight: number): (number | null)[] {
  const w = Math.min(Math.max(weight, 0), 0.999999)
  const out: (number | null)[] = new Array(values.length)
  let last = 0
  let n = 0
  for (let i = 0; i < values.length; i++) {
    const v = values[i]
    if (v === null || !Number.isFinite(v)) {
      out[i] = v
      continue
    }
    last = last * w + (1 - w) * v
    n++
    const debias = w === 0 ? 1 : 1 - Math.pow(w, n)
    out[i] = last / debias
  }
  return out
}
