/** A tiny element builder: enough structure for a few pages without a framework. */
type Child = Node | string | number | null | undefined | false
export function h<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attrs: Record<string, unknown> = {},
  ...children: (Child | Child[])[]
): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag)
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue
    if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v as EventListener)
    else if (k === 'class') el.className = String(v)
    else if (k === 'style' && typeof v === 'object') Object.assign(el.style, v)
    else if (k in el && typeof v !== 'string') (el as unknown as Record<string, unknown>)[k] = v
    else el.setAttribute(k, v === true ? '' : String(v))
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue
    el.append(c instanceof Node ? c : String(c))
  }
  return el
}

export function clear(el: Element): void {
  while (el.firstChild) el.removeChild(el.firstChild)
}

export function fmtNum(v: number | string | null | undefined): string {
  if (v === null || v === undefined) return ''
  if (typeof v === 'string') return v
  if (!Number.isFinite(v)) return String(v)
  if (v !== 0 && (Math.abs(v) >= 1e5 || Math.abs(v) < 1e-3)) return v.toExponential(3)
  return String(Math.round(v * 1e4) / 1e4)
}

export function fmtDuration(ms: number): string {
  if (!Number.isFinite(ms) || ms < 0) return ''
  const s = Math.round(ms / 1000)
  if (s < 60) return `${s}s`
  if (s < 3600) return `${Math.floor(s / 60)}m ${s % 60}s`
  return `${Math.floor(s / 3600)}h ${Math.floor((s % 3600) / 60)}m`
}

/**
 * A slider with a label that shows the chosen item. It can grow while a run logs: when it sits on
 * the last item it follows to the new last one (and calls onChange), otherwise it stays put.
 */
export interface StepSlider {
  el: HTMLElement
  grow(count: number): void
}
export function stepSlider(count: number, label: (i: number) => string, onChange: (i: number) => void, cls = 'step-slider'): StepSlider {
  const text = h('span', { class: 'slider-label' }, label(count - 1))
  const input = h('input', { type: 'range', min: 0, max: Math.max(0, count - 1), value: String(Math.max(0, count - 1)), class: cls })
  const el = h('div', { class: 'slider' }, input, text)
  el.hidden = count < 2
  const pick = (i: number) => {
    text.textContent = label(i)
    onChange(i)
  }
  input.addEventListener('input', () => pick(Number(input.value)))
  return {
    el,
    grow(n: number) {
      const following = Number(input.value) >= Number(input.max)
      input.max = String(Math.max(0, n - 1))
      el.hidden = n < 2
      if (following) {
        input.value = input.max
        pick(n - 1)
      }
    },
  }
}
