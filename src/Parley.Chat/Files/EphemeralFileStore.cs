using System.Collections.Concurrent;

namespace Parley.Chat.Files;

/// <summary>
/// <see cref="IFileStore"/> in memory, within a byte budget: for nodes without a data folder and for tests. Saved
/// files keep their names (unique, never overwritten) but live only as long as the store.
/// </summary>
public sealed class EphemeralFileStore(long capacityBytes = 64L * 1024 * 1024) : IFileStore
{
    private readonly ConcurrentDictionary<string, MemoryContent> _working = new();
    private readonly ConcurrentDictionary<string, MemoryContent> _saved = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, byte[]> _hashes = new();
    private readonly Lock _gate = new();

    public string? SavedFolder => null;

    public long AvailableBytes => capacityBytes - _working.Values.Concat(_saved.Values).Sum(c => c.Bytes.LongLength) - _hashes.Values.Sum(h => h.LongLength);

    /// <summary>The names saved so far, for tests.</summary>
    public IReadOnlyCollection<string> SavedNames => _saved.Keys.ToList();

    public async Task<long> ImportAsync(byte[] fileId, Stream source, long maxBytes, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(source);
        var bound = Math.Min(maxBytes, AvailableBytes);
        using var copy = new MemoryStream();
        var buffer = new byte[81920];
        int read;
        while ((read = await source.ReadAsync(buffer, cancellationToken)) > 0)
        {
            if (copy.Length + read > bound)
            {
                if (copy.Length + read > maxBytes)
                {
                    return -1;
                }
                throw new IOException($"no room for more than {bound} bytes in memory");
            }
            copy.Write(buffer, 0, read);
        }
        _working[Key(fileId)] = new MemoryContent(copy.ToArray());
        return copy.Length;
    }

    public IFileContent OpenWorking(byte[] fileId, long size)
    {
        lock (_gate)
        {
            if (_working.TryGetValue(Key(fileId), out var existing))
            {
                return existing;
            }
            if (size > AvailableBytes || size > Array.MaxLength)
            {
                throw new IOException($"no room for {size} bytes in memory");
            }
            return _working[Key(fileId)] = new MemoryContent(new byte[size]);
        }
    }

    public IFileContent? OpenForReading(byte[] fileId, string? savedAs) =>
        savedAs is null ? _working.GetValueOrDefault(Key(fileId)) : _saved.GetValueOrDefault(savedAs);

    public string Save(byte[] fileId, string name)
    {
        lock (_gate)
        {
            if (!_working.TryRemove(Key(fileId), out var content))
            {
                throw new IOException("the file's working copy is gone");
            }
            var free = SafeFileName.Candidates(name).First(n => !_saved.ContainsKey(n));
            _saved[free] = content;
            return free;
        }
    }

    public void WriteHashes(byte[] fileId, int firstIndex, ReadOnlySpan<byte> hashes)
    {
        lock (_gate)
        {
            var end = ((firstIndex * FileManifest.HashLength) + hashes.Length);
            var stored = _hashes.GetValueOrDefault(Key(fileId)) ?? [];
            if (stored.Length < end)
            {
                Array.Resize(ref stored, end);
            }
            hashes.CopyTo(stored.AsSpan(firstIndex * FileManifest.HashLength));
            _hashes[Key(fileId)] = stored;
        }
    }

    public bool TryReadHashes(byte[] fileId, int firstIndex, Span<byte> destination)
    {
        var stored = _hashes.GetValueOrDefault(Key(fileId));
        var start = firstIndex * FileManifest.HashLength;
        if (stored is null || stored.Length < start + destination.Length)
        {
            return false;
        }
        stored.AsSpan(start, destination.Length).CopyTo(destination);
        return true;
    }

    public void Delete(byte[] fileId)
    {
        _working.TryRemove(Key(fileId), out _);
        _hashes.TryRemove(Key(fileId), out _);
    }

    private static string Key(byte[] fileId) => Convert.ToHexStringLower(fileId);

    private sealed class MemoryContent(byte[] bytes) : IFileContent
    {
        public byte[] Bytes { get; } = bytes;

        public long Size => Bytes.LongLength;

        public ValueTask<int> ReadAsync(long offset, Memory<byte> buffer, CancellationToken cancellationToken)
        {
            var count = (int)Math.Clamp(Size - offset, 0, buffer.Length);
            Bytes.AsSpan((int)offset, count).CopyTo(buffer.Span);
            return ValueTask.FromResult(count);
        }

        public ValueTask WriteAsync(long offset, ReadOnlyMemory<byte> data, CancellationToken cancellationToken)
        {
            if (offset < 0 || offset + data.Length > Size)
            {
                throw new IOException($"a write at {offset} of {data.Length} bytes is outside the file's {Size} bytes");
            }
            data.Span.CopyTo(Bytes.AsSpan((int)offset));
            return ValueTask.CompletedTask;
        }

        public void Flush()
        {
        }

        // Shared by every user of the store: nothing to release.
        public void Dispose()
        {
        }
    }
}
