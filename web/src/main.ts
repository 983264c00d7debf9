/** The viewer's entry: hash routing between the run list and run pages. */
import 'uplot/dist/uPlot.min.css'
import './style.css'
import { h } from './dom'
import { renderRunList } from './runlist'
import { renderRunPage } from './runpage'
import type { PageHandle } from './runpage'

const root = document.getElementById('app') as HTMLElement
let page: PageHandle | null = null

function go(hash: string): void {
  if (location.hash === hash) void route()
  else location.hash = hash
}

async function route(): Promise<void> {
  page?.dispose()
  page = null
  const [path, query = ''] = location.hash.replace(/^#/, '').split('?')
  const params = new URLSearchParams(query)
  document.body.dataset.page = 'loading'
  try {
    if (path === '/run') {
      const keys = (params.get('runs') ?? '').split(',').map(decodeURIComponent).filter(Boolean)
      page = await renderRunPage(root, keys, params.get('tab') ?? 'scalars', go)
      document.body.dataset.page = 'run'
    } else {
      page = await renderRunList(root, go, query)
      document.body.dataset.page = 'list'
    }
  } catch (e) {
    root.replaceChildren(h('p', { class: 'error' }, `Could not load: ${(e as Error).message}`))
    document.body.dataset.page = 'error'
  }
}

window.addEventListener('hashchange', () => void route())
void route()
