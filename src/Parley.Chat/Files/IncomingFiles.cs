using System.Buffers;
using System.Collections.Concurrent;
using Google.Protobuf;
using Parley.Chat.Delivery;
using Parley.Chat.Files.Protos;
using Parley.Chat.Messaging;
using Parley.Chat.Protos;
using Parley.Chat.Sessions;

namespace Parley.Chat.Files;

/// <summary>What became of one chunk offered to a file being received.</summary>
internal enum ChunkOutcome
{
    Added,

    /// <summary>Already held.</summary>
    Duplicate,

    /// <summary>Its hash is not the manifest's, or it does not decrypt: refused, asked for again.</summary>
    Corrupt,

    /// <summary>Its hash is not known yet (its page of hashes has not arrived): not taken.</summary>
    Unverifiable,
}

/// <summary>
/// The files being received (docs/files.md): chunks from any source (pulled, or pushed through the outbox) are checked
/// against the manifest, decrypted and written at their place in the working copy; what is held is flushed to disk and
/// then recorded, so a crash loses at most the chunks since the last record; a file whose every chunk is held moves
/// to the saved-files folder under a safe name and, for a 1:1 file, its sender hears that it arrived. One user at a
/// time per file (<see cref="BeginAsync"/>).
/// </summary>
internal sealed class IncomingFiles(ChatContext context, FileCatalog catalog, PairwiseSessions sessions, Outbox outbox)
{
    private readonly ConcurrentDictionary<string, SemaphoreSlim> _locks = new();

    /// <summary>Takes a file for receiving; null when it is not an unfinished incoming file, or (with a zero wait) when another part has it.</summary>
    public async Task<Receiving?> BeginAsync(byte[] fileId, TimeSpan wait, CancellationToken cancellationToken)
    {
        var gate = _locks.GetOrAdd(Convert.ToHexStringLower(fileId), _ => new SemaphoreSlim(1, 1));
        if (!await gate.WaitAsync(wait, cancellationToken))
        {
            return null;
        }
        try
        {
            var record = await context.Store.ReadAsync(r => r.GetFile(fileId), cancellationToken);
            if (record is not { IsUnfinished: true })
            {
                gate.Release();
                return null;
            }
            var manifest = FileManifest.Parse(record.Manifest);
            var content = catalog.Store.OpenWorking(fileId, manifest.Size);
            return new Receiving(context, catalog, record, manifest, content, gate);
        }
        catch
        {
            gate.Release();
            throw;
        }
    }

    /// <summary>Checks one encrypted chunk against the manifest and, if it is the one, writes it in place.</summary>
    public async Task<ChunkOutcome> AddAsync(Receiving receiving, int index, ReadOnlyMemory<byte> ciphertext, CancellationToken cancellationToken)
    {
        var manifest = receiving.Manifest;
        if (index < 0 || index >= manifest.ChunkCount || ciphertext.Length != manifest.ChunkLength(index) + ChunkCipher.Overhead)
        {
            return ChunkOutcome.Corrupt;
        }
        if (receiving.Have.Has(index))
        {
            return ChunkOutcome.Duplicate;
        }
        Span<byte> expected = stackalloc byte[FileManifest.HashLength];
        if (!receiving.TryGetHash(index, expected))
        {
            return ChunkOutcome.Unverifiable;
        }
        if (!ChunkHash.Matches(context.Crypto, ciphertext.Span, expected))
        {
            return ChunkOutcome.Corrupt;
        }
        var plaintext = ArrayPool<byte>.Shared.Rent(manifest.ChunkLength(index));
        try
        {
            if (!receiving.Cipher.TryDecrypt(index, ciphertext.Span, plaintext.AsSpan(0, manifest.ChunkLength(index))))
            {
                return ChunkOutcome.Corrupt;
            }
            await receiving.Content.WriteAsync(manifest.Offset(index), plaintext.AsMemory(0, manifest.ChunkLength(index)), cancellationToken);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(plaintext);
        }
        receiving.Have.Add(index);
        receiving.Unrecorded++;
        return ChunkOutcome.Added;
    }

    /// <summary>
    /// Flushes what was written and records what is held (with <paramref name="problem"/>, what the file now waits for);
    /// a complete file is saved. Returns the record as stored.
    /// </summary>
    public async Task<FileRecord> RecordAsync(Receiving receiving, string? problem, CancellationToken cancellationToken)
    {
        if (receiving.Record.State == FileState.Complete)
        {
            // Saved by a record during the fetch (its content is closed): nothing is left to record.
            return receiving.Record;
        }
        receiving.Content.Flush();
        receiving.Unrecorded = 0;
        receiving.RecordedAt = context.Time.GetTimestamp();
        if (!receiving.Have.IsComplete)
        {
            receiving.Record = await context.Store.TransactAsync(tx => Store(tx, receiving, FileState.Waiting, null, problem), cancellationToken);
            return receiving.Record;
        }
        // Closed before it moves; saved under the manifest's (cleaned) name, never over another file.
        receiving.Content.Dispose();
        var savedAs = catalog.Store.Save(receiving.Record.FileId, receiving.Manifest.Name);
        receiving.Record = await context.Store.TransactAsync(tx =>
        {
            var saved = Store(tx, receiving, FileState.Complete, savedAs, null);
            if (!saved.InRoom && tx.GetContact(saved.Peer) is { } sender)
            {
                sessions.QueueControl(tx, sender, new Content { FileReceived = new FileReceived { FileId = ByteString.CopyFrom(saved.FileId) } });
            }
            return saved;
        }, cancellationToken);
        outbox.Wake();
        FileLog.FileSaved(context.Logger, Convert.ToHexStringLower(receiving.Record.FileId)[..8], receiving.Manifest.Size);
        return receiving.Record;
    }

    /// <summary>Whether enough was written since the last record that it is time to record again.</summary>
    public bool RecordDue(Receiving receiving) =>
        receiving.Unrecorded > 0 && context.Time.GetElapsedTime(receiving.RecordedAt) >= catalog.Options.PersistInterval;

    /// <summary>Records a state the user must act on (over the limit, no disk space), keeping what is held.</summary>
    public async Task<FileRecord> SetStateAsync(Receiving receiving, FileState state, string problem, CancellationToken cancellationToken)
    {
        receiving.Content.Flush();
        receiving.Record = await context.Store.TransactAsync(tx => Store(tx, receiving, state, null, problem), cancellationToken);
        return receiving.Record;
    }

    private FileRecord Store(IChatTransaction tx, Receiving receiving, FileState state, string? savedAs, string? problem)
    {
        var record = receiving.Record with
        {
            State = state,
            Have = receiving.Have.ToBytes(),
            ChunksHeld = receiving.Have.Held,
            SavedAs = savedAs,
            Problem = problem,
            UpdatedAt = context.Now,
        };
        tx.PutFile(record);
        return record;
    }

    /// <summary>One file held for receiving: its manifest, what is held, its working copy and cipher. Dispose to let go.</summary>
    internal sealed class Receiving : IDisposable
    {
        private readonly IFileStore _store;
        private readonly SemaphoreSlim _gate;
        private readonly bool[] _pageKnown;
        private int _disposed;

        public Receiving(ChatContext context, FileCatalog catalog, FileRecord record, FileManifest manifest, IFileContent content, SemaphoreSlim gate)
        {
            _store = catalog.Store;
            _gate = gate;
            Record = record;
            Manifest = manifest;
            Content = content;
            Have = new ChunkSet(manifest.ChunkCount, record.Have);
            Cipher = ChunkCipher.For(context.Crypto, manifest);
            RecordedAt = context.Time.GetTimestamp();
            _pageKnown = new bool[manifest.HasInlineHashes ? 0 : manifest.PageCount];
            for (var page = 0; page < _pageKnown.Length; page++)
            {
                _pageKnown[page] = StoredPageMatches(page);
            }
        }

        public FileRecord Record { get; set; }

        public FileManifest Manifest { get; }

        public IFileContent Content { get; }

        public ChunkSet Have { get; }

        public ChunkCipher Cipher { get; }

        public int Unrecorded { get; set; }

        public long RecordedAt { get; set; }

        /// <summary>Pages of chunk hashes not held yet (none for a manifest that lists the hashes).</summary>
        public IEnumerable<int> MissingPages => Enumerable.Range(0, _pageKnown.Length).Where(p => !_pageKnown[p]);

        /// <summary>Keeps a page of hashes if it is the one the manifest names.</summary>
        public bool AddPage(int page, ReadOnlySpan<byte> hashes)
        {
            if (page < 0 || page >= _pageKnown.Length || _pageKnown[page] || hashes.Length != Manifest.PageLength(page) * FileManifest.HashLength
                || !FileManifest.PageHash(hashes).AsSpan().SequenceEqual(Manifest.Proto.HashPages[page].Span))
            {
                return false;
            }
            _store.WriteHashes(Record.FileId, page * FileManifest.HashesPerPage, hashes);
            _pageKnown[page] = true;
            return true;
        }

        public bool TryGetHash(int index, Span<byte> hash)
        {
            if (Manifest.HasInlineHashes)
            {
                Manifest.Proto.ChunkHashes[index].Span.CopyTo(hash);
                return true;
            }
            return _pageKnown[index / FileManifest.HashesPerPage] && _store.TryReadHashes(Record.FileId, index, hash);
        }

        public void Dispose()
        {
            if (Interlocked.Exchange(ref _disposed, 1) == 0)
            {
                Content.Dispose();
                Cipher.Dispose();
                _gate.Release();
            }
        }

        private bool StoredPageMatches(int page)
        {
            var hashes = new byte[Manifest.PageLength(page) * FileManifest.HashLength];
            return _store.TryReadHashes(Record.FileId, page * FileManifest.HashesPerPage, hashes)
                && FileManifest.PageHash(hashes).AsSpan().SequenceEqual(Manifest.Proto.HashPages[page].Span);
        }
    }
}
