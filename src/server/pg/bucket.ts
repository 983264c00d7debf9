/**
 * The object storage of the team server's PostgreSQL + S3 mode: one bucket (and an optional key
 * prefix in it) named by `s3://bucket/optional/prefix`, on AWS or any S3-compatible server
 * (`endpoint`). It holds the bulk: sealed chunks and media, under keys that are content-addressed
 * or written once, which is why create-only writes may treat "already there" as done.
 *
 * Failures come out as the project's error classes: a missing key is `NotFoundError`; an
 * unreachable server, a timeout or a 5xx/throttling answer is `StorageUnavailableError` (the
 * server answers 503 + Retry-After); anything else is `VaultIoError` with the S3 error as cause.
 * Every call is bounded: connect and idle timeouts and a few attempts, so a hung server can not
 * hold a request forever. Credentials come from the SDK's default chain (AWS_ACCESS_KEY_ID /
 * AWS_SECRET_ACCESS_KEY, ~/.aws files, instance roles).
 */
import type * as S3 from '@aws-sdk/client-s3'
import { ClosedError, InvalidArgumentError, NotFoundError, StorageUnavailableError, VaultIoError } from '../../errors'
import { loadS3 } from './deps'
import type { S3Modules } from './deps'

export interface BucketOptions {
  /** An S3-compatible server (`http://127.0.0.1:9000`); addressed path-style. Default: AWS. */
  endpoint?: string
  /** Default: $AWS_REGION, $AWS_DEFAULT_REGION, else us-east-1. */
  region?: string
  /** Connect timeout and idle timeout of one attempt, ms (not a cap on a long transfer). Default 5 s. */
  timeoutMs?: number
  /** Attempts per call, the first included (the SDK retries network errors, 5xx and throttling). Default 3. */
  maxAttempts?: number
}

export interface PutOptions {
  /** Write only if the key is absent; an existing object is kept as it is (and `put` returns false). */
  createOnly?: boolean
  contentType?: string
}

export interface ObjectInfo {
  /** Relative to the bucket's prefix, as given to `put`. */
  key: string
  size: number
  lastModified: Date
}

/** S3 accepts at most this many keys in one DeleteObjects call. */
const DELETE_BATCH = 1000

/** Node's error codes for a peer that cannot be reached or went away. */
const NETWORK_CODES = new Set([
  'ECONNREFUSED', 'ECONNRESET', 'ECONNABORTED', 'EPIPE', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH',
  'EHOSTDOWN', 'ENETDOWN', 'ENOTFOUND', 'EAI_AGAIN', 'UND_ERR_SOCKET', 'ERR_STREAM_PREMATURE_CLOSE',
])
/** S3 error names that mean "not now" rather than "not this request". */
const TRANSIENT_NAMES = new Set(['TimeoutError', 'AbortError', 'RequestTimeout', 'RequestTimeoutException',
  'SlowDown', 'ServiceUnavailable', 'InternalError', 'Throttling', 'ThrottlingException', 'TooManyRequestsException'])

/** Parse `s3://bucket/optional/prefix` into the bucket's name and a key prefix ('' or ending in '/'). */
export function parseBucketUrl(url: string): { name: string; prefix: string } {
  const m = /^s3:\/\/([^/?#]+)(?:\/([^?#]*))?$/.exec(url)
  if (!m) throw new InvalidArgumentError(`a bucket is given as s3://bucket or s3://bucket/prefix, not ${JSON.stringify(url)}`)
  const parts = (m[2] ?? '').split('/').filter((p) => p !== '')
  return { name: m[1], prefix: parts.length ? parts.join('/') + '/' : '' }
}

export class Bucket {
  readonly name: string
  /** Prepended to every key ('' or ending in '/'). */
  readonly prefix: string
  readonly #s3: typeof S3
  readonly #presigner: S3Modules['presigner']
  #client: S3.S3Client | null
  /** Cleared when the server rejects If-None-Match as not implemented: then HEAD before PUT. */
  #conditionalWrites = true
  readonly #timeoutMs: number

  constructor(url: string, options: BucketOptions = {}) {
    const { name, prefix } = parseBucketUrl(url)
    this.name = name
    this.prefix = prefix
    const mods = loadS3()
    this.#s3 = mods.s3
    this.#presigner = mods.presigner
    const timeout = (this.#timeoutMs = options.timeoutMs ?? 5_000)
    this.#client = new this.#s3.S3Client({
      region: options.region ?? process.env.AWS_REGION ?? process.env.AWS_DEFAULT_REGION ?? 'us-east-1',
      ...(options.endpoint
        ? {
            endpoint: options.endpoint,
            // Servers other than AWS know bucket-in-the-path addressing, not bucket DNS names.
            forcePathStyle: true,
            // The SDK's default CRC32 trailers on every upload are refused by several S3-compatible
            // servers; checksums only where the API requires them (DeleteObjects) work everywhere.
            requestChecksumCalculation: 'WHEN_REQUIRED' as const,
            responseChecksumValidation: 'WHEN_REQUIRED' as const,
          }
        : {}),
      maxAttempts: options.maxAttempts ?? 3,
      // socketTimeout is the idle timeout: a stalled server fails the attempt, a long upload that
      // keeps moving does not.
      requestHandler: { connectionTimeout: timeout, socketTimeout: timeout },
    })
  }

  /** `s3://name/prefix`. */
  get url(): string {
    return `s3://${this.name}/${this.prefix}`
  }

  /**
   * Store `body` at `key`. With `createOnly` an existing object is left as it is and the result is
   * false (If-None-Match: * where the server supports it, else a HEAD first).
   */
  async put(key: string, body: Buffer, options: PutOptions = {}): Promise<boolean> {
    const Key = this.#key(key)
    const input: S3.PutObjectCommandInput = { Bucket: this.name, Key, Body: body, ContentType: options.contentType }
    if (!options.createOnly) {
      await this.#send('put', key, new this.#s3.PutObjectCommand(input))
      return true
    }
    if (!this.#conditionalWrites) {
      if (await this.exists(key)) return false
      await this.#send('put', key, new this.#s3.PutObjectCommand(input))
      return true
    }
    try {
      await this.#client_().send(new this.#s3.PutObjectCommand({ ...input, IfNoneMatch: '*' }))
      return true
    } catch (e) {
      const status = statusOf(e)
      // 412: the key exists. 409: another conditional write of it is in flight; as keys are
      // immutable, that one writes the same bytes.
      if (status === 412 || status === 409) return false
      if (status === 501 || (e as Error)?.name === 'NotImplemented') {
        this.#conditionalWrites = false
        return this.put(key, body, options)
      }
      throw this.#error('put', key, e)
    }
  }

  /**
   * A URL anyone holding it may GET the object with for `expiresIn` seconds (signed here, no
   * request made): what a media redirect sends the browser to, answered with `contentType`.
   */
  async presignGet(key: string, opts: { expiresIn: number; contentType?: string }): Promise<string> {
    const command = new this.#s3.GetObjectCommand({ Bucket: this.name, Key: this.#key(key), ResponseContentType: opts.contentType })
    return this.#presigner.getSignedUrl(this.#client_(), command, { expiresIn: opts.expiresIn })
  }

  /** The object's bytes; `NotFoundError` when there is none. */
  async get(key: string): Promise<Buffer> {
    return this.#read('get', key, new this.#s3.GetObjectCommand({ Bucket: this.name, Key: this.#key(key) }))
  }

  /** Bytes [start, end) of the object (end exclusive, as in `Buffer.subarray`). */
  async getRange(key: string, start: number, end: number): Promise<Buffer> {
    if (!Number.isSafeInteger(start) || !Number.isSafeInteger(end) || start < 0 || end < start) {
      throw new InvalidArgumentError(`getRange(${key}): need 0 <= start <= end, got ${start}, ${end}`)
    }
    if (end === start) return Buffer.alloc(0)
    const Range = `bytes=${start}-${end - 1}`
    return this.#read('getRange', key, new this.#s3.GetObjectCommand({ Bucket: this.name, Key: this.#key(key), Range }))
  }

  async exists(key: string): Promise<boolean> {
    try {
      await this.#client_().send(new this.#s3.HeadObjectCommand({ Bucket: this.name, Key: this.#key(key) }))
      return true
    } catch (e) {
      if (statusOf(e) === 404) return false
      throw this.#error('exists', key, e)
    }
  }

  /** Delete `keys` (absent ones are no error), in calls of at most 1000 keys. */
  async delete(keys: readonly string[]): Promise<void> {
    for (let i = 0; i < keys.length; i += DELETE_BATCH) {
      const batch = keys.slice(i, i + DELETE_BATCH)
      const Objects = batch.map((k) => ({ Key: this.#key(k) }))
      const out: S3.DeleteObjectsCommandOutput = await this.#send('delete', batch[0], new this.#s3.DeleteObjectsCommand({ Bucket: this.name, Delete: { Objects, Quiet: true } }))
      const failed = out.Errors ?? []
      if (failed.length > 0) {
        const first = failed[0]
        const message = `S3 delete: ${failed.length} of ${batch.length} keys not deleted, first ${first.Key}: ${first.Code} ${first.Message ?? ''}`
        throw TRANSIENT_NAMES.has(first.Code ?? '') ? new StorageUnavailableError(message) : new VaultIoError(message)
      }
    }
  }

  /** Every object whose key starts with `prefix` (relative to the bucket's prefix), in key order. */
  async *list(prefix = ''): AsyncIterable<ObjectInfo> {
    let ContinuationToken: string | undefined
    do {
      const page: S3.ListObjectsV2CommandOutput = await this.#send('list', prefix,
        new this.#s3.ListObjectsV2Command({ Bucket: this.name, Prefix: this.prefix + prefix, ContinuationToken }))
      for (const o of page.Contents ?? []) {
        if (o.Key === undefined) continue
        yield { key: o.Key.slice(this.prefix.length), size: o.Size ?? 0, lastModified: o.LastModified ?? new Date(0) }
      }
      ContinuationToken = page.IsTruncated ? page.NextContinuationToken : undefined
    } while (ContinuationToken)
  }

  /**
   * Resolve when the bucket answers (HeadBucket), for /healthz and start-up checks: one timeout
   * window in all, not one per attempt, so a health check answers in time.
   */
  async check(): Promise<void> {
    try {
      await this.#client_().send(new this.#s3.HeadBucketCommand({ Bucket: this.name }), { abortSignal: AbortSignal.timeout(this.#timeoutMs) })
    } catch (e) {
      if (statusOf(e) === 404) throw new VaultIoError(`S3 bucket ${this.name} does not exist`, { cause: e })
      throw this.#error('check', '', e)
    }
  }

  /** Close the client's sockets; later calls throw `ClosedError`. */
  close(): void {
    this.#client?.destroy()
    this.#client = null
  }

  #client_(): S3.S3Client {
    if (!this.#client) throw new ClosedError(`bucket ${this.url} is closed`)
    return this.#client
  }

  #key(key: string): string {
    if (typeof key !== 'string' || key === '') throw new InvalidArgumentError('a bucket key is a non-empty string')
    return this.prefix + key
  }

  async #send<T>(op: string, key: string, command: { readonly input: unknown }): Promise<T> {
    try {
      return (await this.#client_().send(command as never)) as T
    } catch (e) {
      throw this.#error(op, key, e)
    }
  }

  /** GetObject and its body: a connection lost mid-body fails like one lost before it. */
  async #read(op: string, key: string, command: S3.GetObjectCommand): Promise<Buffer> {
    try {
      const out = await this.#client_().send(command)
      const bytes = await out.Body!.transformToByteArray()
      return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)
    } catch (e) {
      throw this.#error(op, key, e)
    }
  }

  /** Map an SDK or network failure to the project's error classes. */
  #error(op: string, key: string, e: unknown): Error {
    if (e instanceof ClosedError || e instanceof InvalidArgumentError) return e
    const err = (e ?? {}) as { name?: string; code?: string; message?: string; $metadata?: { httpStatusCode?: number } }
    const status = statusOf(e)
    const what = `S3 ${op}${key ? ` ${this.prefix}${key}` : ''} in ${this.name}`
    const detail = `${status ?? ''} ${err.name ?? ''}: ${err.message ?? String(e)}`.trim()
    if (status === 404 && err.name !== 'NoSuchBucket') return new NotFoundError(`${what}: no such key`, { cause: e })
    if ((status !== undefined && (status >= 500 || status === 429)) || TRANSIENT_NAMES.has(err.name ?? '') ||
        NETWORK_CODES.has(err.code ?? '') || (status === undefined && /socket hang up|timed? ?out/i.test(err.message ?? ''))) {
      return new StorageUnavailableError(`${what}: object storage unavailable (${detail})`, { cause: e })
    }
    return new VaultIoError(`${what}: ${detail}`, { cause: e })
  }
}

function statusOf(e: unknown): number | undefined {
  return (e as { $metadata?: { httpStatusCode?: number } })?.$metadata?.httpStatusCode
}
