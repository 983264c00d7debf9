/** Board: experiment logging into run folders, and the read side of runs. */
export { Board } from './board'
export type { BoardOptions, LogValue } from './board'
export { Histogram, Media, Table, TensorLog, KernelDensity, MAX_MEDIA_BYTES } from './types'
export type { RawPixels, MediaType, CellType } from './types'
export { listRuns, openRun, Run } from './reader'
export type {
  RunInfo, RunMetadata, RunStatus, ScalarSeries, HistogramEntry, MediaEntry, TableEntry, TensorEntry, KernelDensityEntry,
} from './reader'
