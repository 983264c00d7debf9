/**
 * The media gallery: every item logged under one name, a slider to move through the steps. Items
 * logged while the page is open arrive from the live stream and are added in place (the slider
 * follows the newest step when it was on the last one); a new name adds a section.
 */
import { api } from './api'
import type { MediaEntry } from './api'
import { clear, h, stepSlider } from './dom'
import { fresh, sectionedView } from './liveview'
import type { LiveLogView } from './liveview'

function item(key: string, m: MediaEntry): HTMLElement {
  const url = api.mediaUrl(key, m.id)
  const el =
    m.type === 'video'
      ? h('video', { src: url, controls: true })
      : m.type === 'audio'
        ? h('audio', { src: url, controls: true })
        : h('img', { src: url, alt: m.caption ?? '', loading: 'lazy' })
  return h('figure', { class: 'media-item', 'data-step': m.step }, el, h('figcaption', {}, m.caption ?? '', h('span', { class: 'muted' }, ` step ${m.step} · global ${m.globalStep}`)))
}

class MediaSection {
  readonly el: HTMLElement
  private steps: number[] = []
  private shown = -1
  private readonly gallery = h('div', { class: 'gallery' })
  private readonly slider

  constructor(
    private readonly key: string,
    readonly name: string,
    readonly entries: MediaEntry[],
  ) {
    this.steps = this.stepList()
    this.slider = stepSlider(this.steps.length, (i) => this.label(i), (i) => this.show(i))
    this.el = h('section', { class: 'media-section', 'data-name': name }, h('h4', {}, name), this.slider.el, this.gallery)
    if (this.steps.length) this.show(this.steps.length - 1)
  }

  private stepList(): number[] {
    return [...new Set(this.entries.map((e) => e.step))].sort((a, b) => a - b)
  }

  private label(i: number): string {
    return `step ${this.steps[i]} · global ${this.entries.find((e) => e.step === this.steps[i])?.globalStep ?? ''}`
  }

  private show(i: number): void {
    this.shown = this.steps[i]
    clear(this.gallery)
    for (const m of this.entries.filter((e) => e.step === this.shown)) this.gallery.append(item(this.key, m))
    this.el.dataset.items = String(this.entries.length)
  }

  append(from: number, entries: MediaEntry[]): void {
    const add = fresh(this.entries.length, from, entries)
    if (add.length === 0) return
    this.entries.push(...add)
    this.steps = this.stepList()
    // More items at the step on screen are drawn at once; a new step moves a following slider.
    if (add.some((m) => m.step === this.shown)) this.show(this.steps.indexOf(this.shown))
    this.slider.grow(this.steps.length)
    if (this.shown < 0) this.show(this.steps.length - 1)
    this.el.dataset.items = String(this.entries.length)
  }
}

export function renderMedia(body: HTMLElement, key: string, names: string[]): Promise<LiveLogView> {
  return sectionedView<MediaEntry>('media', body, 'No media logged.', names, async (name) => new MediaSection(key, name, await api.media(key, name)))
}
