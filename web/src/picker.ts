/**
 * The column picker: which config keys and metric summaries the runs table shows, and in what
 * order. Until the user picks, the table shows the default (the config keys that differ between
 * the listed runs, then the tracked metrics' summaries); the first change turns that default into
 * the user's own list, which the URL then keeps.
 */
import { colLabel } from './columns'
import { h } from './dom'

export class ColumnPicker {
  readonly el: HTMLDetailsElement
  private readonly panel = h('div', { class: 'picker-panel' })
  private readonly summary = h('summary', {}, 'columns')
  private sig = ''

  /** `set(cols)`: the user's list; `set(null)`: back to the default. */
  constructor(private readonly set: (cols: string[] | null) => void) {
    this.el = h('details', { class: 'column-picker' }, this.summary, this.panel)
  }

  /**
   * `shown`: the columns now (in order); `available`: every column there is to pick; `isDefault`:
   * whether `shown` is the default; `hiddenDiffering`: differing keys the default left out.
   */
  update(shown: string[], available: string[], isDefault: boolean, hiddenDiffering: number): void {
    const sig = `${shown.join('\n')}\t${available.join('\n')}\t${isDefault}\t${hiddenDiffering}`
    if (sig === this.sig) return
    this.sig = sig
    this.summary.textContent = `columns (${shown.length})`
    const others = available.filter((c) => !shown.includes(c))
    const move = (i: number, by: number) => {
      const next = [...shown]
      const [c] = next.splice(i, 1)
      next.splice(Math.max(0, Math.min(next.length, i + by)), 0, c)
      this.set(next)
    }
    const reset = h('button', { class: 'cols-default', disabled: isDefault, title: 'the config keys that differ between the listed runs' }, 'default: differing keys')
    reset.addEventListener('click', () => this.set(null))
    const none = h('button', { class: 'cols-none', disabled: shown.length === 0 }, 'none')
    none.addEventListener('click', () => this.set([]))
    const item = (col: string, i: number) => {
      const on = i >= 0
      const box = h('input', { type: 'checkbox', checked: on })
      box.addEventListener('change', () => this.set(on ? shown.filter((c) => c !== col) : [...shown, col]))
      const up = h('button', { class: 'up', title: 'move left', disabled: i <= 0 }, '↑')
      const down = h('button', { class: 'down', title: 'move right', disabled: !on || i === shown.length - 1 }, '↓')
      up.addEventListener('click', () => move(i, -1))
      down.addEventListener('click', () => move(i, 1))
      return h('div', { class: `pick${on ? ' on' : ''}`, 'data-col': col }, h('label', {}, box, ` ${colLabel(col)}`), on ? h('span', { class: 'moves' }, up, down) : null)
    }
    this.panel.replaceChildren(
      h('div', { class: 'picker-actions' }, reset, none, isDefault ? h('span', { class: 'muted' }, hiddenDiffering ? ` default (${hiddenDiffering} more keys differ)` : ' default') : null),
      h('div', { class: 'pick-list' }, shown.map((c, i) => item(c, i)), others.length ? h('div', { class: 'pick-sep muted' }, 'not shown') : null, others.map((c) => item(c, -1))),
    )
  }
}
