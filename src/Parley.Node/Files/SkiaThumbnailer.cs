using Parley.Chat.Files;
using SkiaSharp;

namespace Parley.Node.Files;

/// <summary>Makes the small preview that travels in an image's manifest (docs/files.md), on the sending node only.</summary>
public interface IThumbnailer
{
    /// <summary>Larger files are not read for a thumbnail: they are rarely pictures, and would be held in memory.</summary>
    const int MaxSourceBytes = 32 * 1024 * 1024;

    /// <summary>
    /// A JPEG of at most <see cref="FileManifest.MaxThumbnailBytes"/> showing <paramref name="content"/>, or null when
    /// the content is not a JPEG, PNG, WebP or GIF image that can be read within the bounds (never an exception).
    /// </summary>
    Task<byte[]?> CreateAsync(ReadOnlyMemory<byte> content, CancellationToken cancellationToken);
}

/// <summary>
/// Thumbnails with SkiaSharp. The type is sniffed from the bytes, never the name. The dimensions are read from the
/// header before anything is decoded, and an image is decoded only if its pixels fit a fixed budget (JPEG and WebP are
/// decoded already scaled down), so a decompression bomb gets no thumbnail rather than gigabytes of memory. One
/// thumbnail is made at a time, so the budget bounds the node's memory too. The longest side is at most
/// <see cref="MaxSide"/>; the quality, then the size, is lowered until the JPEG fits the manifest's bound.
/// </summary>
public sealed class SkiaThumbnailer(long maxDecodedPixels = SkiaThumbnailer.DefaultMaxDecodedPixels) : IThumbnailer, IDisposable
{
    public const int MaxSide = 320;

    /// <summary>What a header may claim (a 200-megapixel camera's photo); JPEG and WebP this large decode scaled down.</summary>
    public const long MaxSourcePixels = 200_000_000;

    /// <summary>4096 × 4096 pixels: 64 MiB while one thumbnail is made.</summary>
    public const long DefaultMaxDecodedPixels = 4096L * 4096;

    private static readonly int[] Sides = [MaxSide, 240, 160];
    private static readonly int[] Qualities = [70, 55, 40];
    private readonly SemaphoreSlim _oneAtATime = new(1, 1);

    public async Task<byte[]?> CreateAsync(ReadOnlyMemory<byte> content, CancellationToken cancellationToken)
    {
        if (content.Length > IThumbnailer.MaxSourceBytes || FileManifest.ImageType(content.Span) is null)
        {
            return null;
        }
        await _oneAtATime.WaitAsync(cancellationToken);
        try
        {
            return await Task.Run(() => Create(content), cancellationToken);
        }
        finally
        {
            _oneAtATime.Release();
        }
    }

    public void Dispose() => _oneAtATime.Dispose();

    private byte[]? Create(ReadOnlyMemory<byte> content)
    {
        try
        {
            using var data = SKData.CreateCopy(content.Span);
            using var codec = SKCodec.Create(data);
            if (codec is null)
            {
                return null;
            }
            var (width, height) = (codec.Info.Width, codec.Info.Height);
            if (width <= 0 || height <= 0 || (long)width * height > MaxSourcePixels)
            {
                return null;
            }
            // Decoded at twice the thumbnail's size where the codec can scale while decoding, for a smooth result.
            var decodedSize = codec.GetScaledDimensions(Math.Min(1f, 2f * MaxSide / Math.Max(width, height)));
            if ((long)decodedSize.Width * decodedSize.Height > maxDecodedPixels)
            {
                return null;
            }
            using var decoded = new SKBitmap(new SKImageInfo(decodedSize.Width, decodedSize.Height, SKColorType.Rgba8888, SKAlphaType.Premul));
            if (codec.GetPixels(decoded.Info, decoded.GetPixels()) is not (SKCodecResult.Success or SKCodecResult.IncompleteInput))
            {
                return null;
            }
            return Encode(decoded, codec.EncodedOrigin);
        }
        catch (Exception e) when (e is DllNotFoundException or TypeInitializationException or ArgumentException or InvalidOperationException)
        {
            // No native Skia for this platform, or an image Skia refuses: no thumbnail, the file goes all the same.
            return null;
        }
    }

    /// <summary>The smallest side and quality that fit, largest first; upright as the photo's EXIF orientation says.</summary>
    private static byte[]? Encode(SKBitmap decoded, SKEncodedOrigin origin)
    {
        var turned = origin is SKEncodedOrigin.LeftTop or SKEncodedOrigin.RightTop or SKEncodedOrigin.RightBottom or SKEncodedOrigin.LeftBottom;
        var (width, height) = turned ? (decoded.Height, decoded.Width) : (decoded.Width, decoded.Height);
        foreach (var side in Sides)
        {
            var scale = Math.Min(1f, (float)side / Math.Max(width, height));
            var info = new SKImageInfo(Math.Max(1, (int)MathF.Round(width * scale)), Math.Max(1, (int)MathF.Round(height * scale)), SKColorType.Rgba8888, SKAlphaType.Premul);
            using var surface = SKSurface.Create(info);
            var canvas = surface.Canvas;
            // JPEG has no transparency: what is transparent shows on white, as in a chat bubble.
            canvas.Clear(SKColors.White);
            canvas.Scale(scale);
            var orientation = Orientation(origin, decoded.Width, decoded.Height);
            canvas.Concat(in orientation);
            canvas.DrawBitmap(decoded, 0, 0, new SKSamplingOptions(SKFilterMode.Linear, SKMipmapMode.Linear), null);
            using var image = surface.Snapshot();
            foreach (var quality in Qualities)
            {
                using var jpeg = image.Encode(SKEncodedImageFormat.Jpeg, quality);
                if (jpeg is not null && jpeg.Size <= FileManifest.MaxThumbnailBytes)
                {
                    return jpeg.ToArray();
                }
            }
        }
        return null;
    }

    /// <summary>Maps the stored pixels (<paramref name="width"/> × <paramref name="height"/>) to the upright picture (EXIF orientations 1 to 8).</summary>
    private static SKMatrix Orientation(SKEncodedOrigin origin, float width, float height) => origin switch
    {
        SKEncodedOrigin.TopRight => new SKMatrix(-1, 0, width, 0, 1, 0, 0, 0, 1),
        SKEncodedOrigin.BottomRight => new SKMatrix(-1, 0, width, 0, -1, height, 0, 0, 1),
        SKEncodedOrigin.BottomLeft => new SKMatrix(1, 0, 0, 0, -1, height, 0, 0, 1),
        SKEncodedOrigin.LeftTop => new SKMatrix(0, 1, 0, 1, 0, 0, 0, 0, 1),
        SKEncodedOrigin.RightTop => new SKMatrix(0, -1, height, 1, 0, 0, 0, 0, 1),
        SKEncodedOrigin.RightBottom => new SKMatrix(0, -1, height, -1, 0, width, 0, 0, 1),
        SKEncodedOrigin.LeftBottom => new SKMatrix(0, 1, 0, -1, 0, width, 0, 0, 1),
        _ => SKMatrix.Identity,
    };
}
