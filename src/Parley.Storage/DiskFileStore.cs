using Microsoft.Win32.SafeHandles;
using Parley.Chat.Files;

namespace Parley.Storage;

/// <summary>
/// <see cref="IFileStore"/> in the data folder (docs/files.md): working copies and chunk hashes in
/// <c>file-store/</c> (<c>&lt;id&gt;.data</c>, <c>&lt;id&gt;.hashes</c>), complete received files in <c>files/</c>.
/// Every file is created owner-read/write only (0600: never executable), and a save links the working copy to a name
/// no file has (link(2) refuses an existing name, so nothing is ever overwritten, not even by a race).
/// </summary>
public sealed class DiskFileStore : IFileStore
{
    public const string WorkingFolderName = "file-store";
    public const string SavedFolderName = "files";

    private const UnixFileMode OwnerReadWrite = UnixFileMode.UserRead | UnixFileMode.UserWrite;
    private const UnixFileMode OwnerOnlyFolder = OwnerReadWrite | UnixFileMode.UserExecute;

    private readonly string _working;

    public DiskFileStore(string dataFolder)
    {
        ArgumentException.ThrowIfNullOrEmpty(dataFolder);
        _working = Path.Combine(dataFolder, WorkingFolderName);
        SavedFolder = Path.Combine(dataFolder, SavedFolderName);
        CreateFolder(_working);
        CreateFolder(SavedFolder);
    }

    public string? SavedFolder { get; }

    public long AvailableBytes => new DriveInfo(Path.GetFullPath(_working)).AvailableFreeSpace;

    public async Task<long> ImportAsync(byte[] fileId, Stream source, long maxBytes, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(source);
        var path = WorkingPath(fileId);
        var options = new FileStreamOptions { Mode = FileMode.CreateNew, Access = FileAccess.Write, Options = FileOptions.Asynchronous, BufferSize = 0 };
        if (!OperatingSystem.IsWindows())
        {
            options.UnixCreateMode = OwnerReadWrite;
        }
        var copied = 0L;
        var buffer = System.Buffers.ArrayPool<byte>.Shared.Rent(1024 * 1024);
        try
        {
            await using (var target = new FileStream(path, options))
            {
                int read;
                while ((read = await source.ReadAsync(buffer, cancellationToken)) > 0)
                {
                    copied += read;
                    if (copied > maxBytes)
                    {
                        break;
                    }
                    await target.WriteAsync(buffer.AsMemory(0, read), cancellationToken);
                }
                target.Flush(flushToDisk: true);
            }
            if (copied > maxBytes)
            {
                File.Delete(path);
                return -1;
            }
            return copied;
        }
        catch
        {
            File.Delete(path);
            throw;
        }
        finally
        {
            System.Buffers.ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    public IFileContent OpenWorking(byte[] fileId, long size)
    {
        var path = WorkingPath(fileId);
        var handle = File.OpenHandle(path, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.Read, FileOptions.Asynchronous, preallocationSize: 0);
        try
        {
            if (!OperatingSystem.IsWindows())
            {
                File.SetUnixFileMode(handle, OwnerReadWrite);
            }
            // A new file is sparse: its chunks take space as they are written.
            if (RandomAccess.GetLength(handle) != size)
            {
                RandomAccess.SetLength(handle, size);
            }
            return new DiskContent(handle, size);
        }
        catch
        {
            handle.Dispose();
            throw;
        }
    }

    public IFileContent? OpenForReading(byte[] fileId, string? savedAs)
    {
        var path = savedAs is null ? WorkingPath(fileId) : SavedPath(savedAs);
        try
        {
            var handle = File.OpenHandle(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite, FileOptions.Asynchronous);
            return new DiskContent(handle, RandomAccess.GetLength(handle));
        }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException or UnauthorizedAccessException)
        {
            return null;
        }
    }

    public string Save(byte[] fileId, string name)
    {
        var source = WorkingPath(fileId);
        if (!File.Exists(source))
        {
            throw new IOException("the file's working copy is gone");
        }
        foreach (var candidate in SafeFileName.Candidates(SafeFileName.Clean(name)).Take(10_000))
        {
            try
            {
                // Move without overwrite is a link(2) then an unlink: an existing name fails, whoever made it.
                File.Move(source, SavedPath(candidate), overwrite: false);
                return candidate;
            }
            catch (IOException) when (File.Exists(SavedPath(candidate)) || Directory.Exists(SavedPath(candidate)))
            {
                // Taken: the next name.
            }
        }
        throw new IOException($"no free name for {name} in {SavedFolder}");
    }

    public void WriteHashes(byte[] fileId, int firstIndex, ReadOnlySpan<byte> hashes)
    {
        using var handle = File.OpenHandle(HashesPath(fileId), FileMode.OpenOrCreate, FileAccess.Write, FileShare.Read);
        if (!OperatingSystem.IsWindows())
        {
            File.SetUnixFileMode(handle, OwnerReadWrite);
        }
        RandomAccess.Write(handle, hashes, (long)firstIndex * FileManifest.HashLength);
        RandomAccess.FlushToDisk(handle);
    }

    public bool TryReadHashes(byte[] fileId, int firstIndex, Span<byte> destination)
    {
        try
        {
            using var handle = File.OpenHandle(HashesPath(fileId), FileMode.Open, FileAccess.Read, FileShare.ReadWrite);
            return RandomAccess.Read(handle, destination, (long)firstIndex * FileManifest.HashLength) == destination.Length;
        }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException)
        {
            return false;
        }
    }

    public void Delete(byte[] fileId)
    {
        File.Delete(WorkingPath(fileId));
        File.Delete(HashesPath(fileId));
    }

    private static void CreateFolder(string path)
    {
        if (OperatingSystem.IsWindows())
        {
            Directory.CreateDirectory(path);
        }
        else
        {
            Directory.CreateDirectory(path, OwnerOnlyFolder);
        }
    }

    private string WorkingPath(byte[] fileId) => Path.Combine(_working, Convert.ToHexStringLower(fileId) + ".data");

    private string HashesPath(byte[] fileId) => Path.Combine(_working, Convert.ToHexStringLower(fileId) + ".hashes");

    /// <summary>A saved file's path; the name is one this store made safe, but it is checked again here.</summary>
    private string SavedPath(string name)
    {
        if (name != SafeFileName.Clean(name))
        {
            throw new ArgumentException($"'{name}' is not a safe file name", nameof(name));
        }
        return Path.Combine(SavedFolder!, name);
    }

    private sealed class DiskContent(SafeFileHandle handle, long size) : IFileContent
    {
        public long Size { get; } = size;

        public async ValueTask<int> ReadAsync(long offset, Memory<byte> buffer, CancellationToken cancellationToken)
        {
            var total = 0;
            while (total < buffer.Length)
            {
                var read = await RandomAccess.ReadAsync(handle, buffer[total..], offset + total, cancellationToken);
                if (read == 0)
                {
                    break;
                }
                total += read;
            }
            return total;
        }

        public ValueTask WriteAsync(long offset, ReadOnlyMemory<byte> data, CancellationToken cancellationToken)
        {
            if (offset < 0 || offset + data.Length > Size)
            {
                throw new IOException($"a write at {offset} of {data.Length} bytes is outside the file's {Size} bytes");
            }
            return RandomAccess.WriteAsync(handle, data, offset, cancellationToken);
        }

        public void Flush() => RandomAccess.FlushToDisk(handle);

        public void Dispose() => handle.Dispose();
    }
}
