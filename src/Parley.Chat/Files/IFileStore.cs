namespace Parley.Chat.Files;

/// <summary>
/// The contents of files (docs/files.md), by file id: a working copy while a file is imported for sending or being
/// received (plaintext at its place in the file, written chunk by chunk in any order), the chunk hashes beside it,
/// and the saved-files folder that complete received files move to under a safe name. What is held and where a file
/// stands is metadata in <see cref="Messaging.IChatStore"/>. The disk store (Parley.Storage) keeps them in the data
/// folder; <see cref="EphemeralFileStore"/> keeps them in memory.
/// </summary>
public interface IFileStore
{
    /// <summary>The folder saved files go to, or null for a store without one (in memory).</summary>
    string? SavedFolder { get; }

    /// <summary>Bytes that can still be written (free disk space, or what is left of a memory budget).</summary>
    long AvailableBytes { get; }

    /// <summary>
    /// Copies <paramref name="source"/> into a new working copy for a file we send. Returns its size, or -1 (and keeps
    /// nothing) when the source holds more than <paramref name="maxBytes"/>.
    /// </summary>
    /// <exception cref="IOException">The disk refused (full, not writable), or the source failed.</exception>
    Task<long> ImportAsync(byte[] fileId, Stream source, long maxBytes, CancellationToken cancellationToken);

    /// <summary>Opens the working copy of a file, creating it with <paramref name="size"/> bytes (zeros) if there is none.</summary>
    /// <exception cref="IOException">The disk refused (full, not writable).</exception>
    IFileContent OpenWorking(byte[] fileId, long size);

    /// <summary>Opens a file's content to read: its working copy, or the saved file when <paramref name="savedAs"/> is given; null when it is gone.</summary>
    IFileContent? OpenForReading(byte[] fileId, string? savedAs);

    /// <summary>Moves the complete working copy to the saved-files folder under <paramref name="name"/> or, when that is taken, the first free of <see cref="SafeFileName.Candidates"/>; never overwrites. Returns the name used.</summary>
    /// <exception cref="IOException">The working copy is gone, or the disk refused.</exception>
    string Save(byte[] fileId, string name);

    /// <summary>Stores chunk hashes (32 bytes each) from index <paramref name="firstIndex"/> on.</summary>
    void WriteHashes(byte[] fileId, int firstIndex, ReadOnlySpan<byte> hashes);

    /// <summary>Reads chunk hashes from index <paramref name="firstIndex"/> on into <paramref name="destination"/>; false when they are not all stored.</summary>
    bool TryReadHashes(byte[] fileId, int firstIndex, Span<byte> destination);

    /// <summary>Deletes the working copy and hashes of a file (not a saved file).</summary>
    void Delete(byte[] fileId);
}

/// <summary>A file's bytes, read and written at any offset; one instance per user of it.</summary>
public interface IFileContent : IDisposable
{
    long Size { get; }

    /// <summary>Reads up to <paramref name="buffer"/>'s length at <paramref name="offset"/>; fewer only at the end.</summary>
    ValueTask<int> ReadAsync(long offset, Memory<byte> buffer, CancellationToken cancellationToken);

    ValueTask WriteAsync(long offset, ReadOnlyMemory<byte> data, CancellationToken cancellationToken);

    /// <summary>Makes what was written durable (fsync), so that recording it as held is true after a crash.</summary>
    void Flush();
}
