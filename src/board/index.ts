/** Board: experiment logging into run folders, and the read side of runs. */
export { Board } from './board'
export type { BoardOptions, LogOptions, LogValue } from './board'
export { Histogram, Media, Table, TensorLog, KernelDensity, MAX_MEDIA_BYTES } from './types'
export type { RawPixels, MediaType, CellType } from './types'
export { listRuns, openRun, upgradeRun, withRun, Run } from './reader'
export { labelRun } from './labels'
export type { LabelPatch, RunLabels } from './labels'
export type {
  RunInfo, RunMetadata, RunStatus, ScalarSeries, MetricSummary, HistogramEntry, MediaEntry, TableEntry, TensorEntry, KernelDensityEntry,
} from './reader'
