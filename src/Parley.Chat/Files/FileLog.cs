using Microsoft.Extensions.Logging;
using Parley.Core.Identity;

namespace Parley.Chat.Files;

/// <summary>File transfer's log messages, source-generated. Above Debug: the first 8 hex digits of a file id, sizes, devices and reasons; never a file's name.</summary>
internal static partial class FileLog
{
    [LoggerMessage(Level = LogLevel.Information, Message = "offered file {File} ({Bytes} bytes, pushed: {Pushed})")]
    public static partial void FileOffered(ILogger logger, string file, long bytes, bool pushed);

    [LoggerMessage(Level = LogLevel.Information, Message = "saved file {File} ({Bytes} bytes)")]
    public static partial void FileSaved(ILogger logger, string file, long bytes);

    [LoggerMessage(Level = LogLevel.Information, Message = "file request from {Peer} not read: {Reason}")]
    public static partial void FileRequestUnread(ILogger logger, PeerId peer, string reason);

    [LoggerMessage(Level = LogLevel.Debug, Message = "serving a file to {Peer} ended: {Reason}")]
    public static partial void FileServeEnded(ILogger logger, PeerId peer, string reason);

    [LoggerMessage(Level = LogLevel.Warning, Message = "a pass over the files to fetch failed")]
    public static partial void FilePassFailed(ILogger logger, Exception exception);

    [LoggerMessage(Level = LogLevel.Warning, Message = "fetching file {File} failed")]
    public static partial void FileFetchFailed(ILogger logger, string file, Exception exception);

    [LoggerMessage(Level = LogLevel.Debug, Message = "file source {Device} unreachable: {Reason}")]
    public static partial void FileSourceUnreachable(ILogger logger, PeerId device, string reason);

    [LoggerMessage(Level = LogLevel.Debug, Message = "file source {Device} answered {Status}: {Reason}")]
    public static partial void FileSourceDeclined(ILogger logger, PeerId device, string status, string reason);

    [LoggerMessage(Level = LogLevel.Warning, Message = "chunk {Index} from {Device} does not match its manifest; refused, fetched again")]
    public static partial void CorruptChunk(ILogger logger, int index, PeerId device);

    [LoggerMessage(Level = LogLevel.Information, Message = "fetching file {File} from {Device}: {Held} of {Count} chunks held, asking for {Asked}")]
    public static partial void FetchingFrom(ILogger logger, string file, PeerId device, int held, int count, int asked);

    [LoggerMessage(Level = LogLevel.Information, Message = "served {Chunks} chunks of file {File} to {Peer}")]
    public static partial void FileServed(ILogger logger, int chunks, string file, PeerId peer);

    [LoggerMessage(Level = LogLevel.Information, Message = "fetch from {Device} cut off after {Chunks} chunks: {Reason}; it resumes")]
    public static partial void FileFetchCut(ILogger logger, PeerId device, int chunks, string reason);

    [LoggerMessage(Level = LogLevel.Information, Message = "a room message's file manifest was refused: {Reason}")]
    public static partial void RoomFileManifestRefused(ILogger logger, string reason);

    [LoggerMessage(Level = LogLevel.Debug, Message = "a file event could not be raised: {Reason}")]
    public static partial void FileEventFailed(ILogger logger, string reason);
}
