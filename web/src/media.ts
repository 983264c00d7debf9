/** The media gallery: every item logged under one name, a slider to move through the steps. */
import { api } from './api'
import type { MediaEntry } from './api'
import { clear, h, stepSlider } from './dom'

function item(key: string, m: MediaEntry): HTMLElement {
  const url = api.mediaUrl(key, m.id)
  const el =
    m.type === 'video'
      ? h('video', { src: url, controls: true })
      : m.type === 'audio'
        ? h('audio', { src: url, controls: true })
        : h('img', { src: url, alt: m.caption ?? '', loading: 'lazy' })
  return h('figure', { class: 'media-item' }, el, h('figcaption', {}, m.caption ?? '', h('span', { class: 'muted' }, ` step ${m.step} · global ${m.globalStep}`)))
}

export async function renderMedia(body: HTMLElement, key: string, names: string[]): Promise<void> {
  if (names.length === 0) {
    body.append(h('p', { class: 'empty' }, 'No media logged.'))
    return
  }
  for (const name of names) {
    const entries = await api.media(key, name)
    const steps = [...new Set(entries.map((e) => e.step))].sort((a, b) => a - b)
    const gallery = h('div', { class: 'gallery' })
    const show = (i: number) => {
      clear(gallery)
      for (const m of entries.filter((e) => e.step === steps[i])) gallery.append(item(key, m))
    }
    body.append(
      h('section', { class: 'media-section', 'data-name': name }, h('h4', {}, name), steps.length > 1 ? stepSlider(steps.length, (i) => `step ${steps[i]} · global ${entries.find((e) => e.step === steps[i])?.globalStep ?? ''}`, show) : null, gallery),
    )
    if (steps.length) show(steps.length - 1)
  }
}
