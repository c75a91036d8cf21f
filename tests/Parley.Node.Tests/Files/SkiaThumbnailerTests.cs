using System.Security.Cryptography;
using Parley.Chat.Files;
using Parley.Node.Files;
using SkiaSharp;

namespace Parley.Node.Tests.Files;

/// <summary>Thumbnails made on the sending node: within bounds for real images, none for anything else.</summary>
public sealed class SkiaThumbnailerTests
{
    private readonly SkiaThumbnailer _thumbnailer = new();

    [Theory]
    [InlineData(SKEncodedImageFormat.Jpeg, 1600, 1200)]
    [InlineData(SKEncodedImageFormat.Png, 900, 1400)]
    [InlineData(SKEncodedImageFormat.Webp, 1000, 500)]
    [InlineData(SKEncodedImageFormat.Jpeg, 200, 100)]
    public async Task A_real_image_gets_a_jpeg_thumbnail_within_the_bounds_and_its_proportions(SKEncodedImageFormat format, int width, int height)
    {
        var thumbnail = await _thumbnailer.CreateAsync(TestImages.Photo(width, height, format), CancellationToken.None);

        Assert.NotNull(thumbnail);
        Assert.True(thumbnail.Length <= FileManifest.MaxThumbnailBytes, $"{thumbnail.Length} bytes");
        Assert.Equal("image/jpeg", FileManifest.ThumbnailTypeOf(thumbnail));
        using var decoded = SKBitmap.Decode(thumbnail);
        var longest = Math.Min(SkiaThumbnailer.MaxSide, Math.Max(width, height));
        Assert.Equal(longest, Math.Max(decoded.Width, decoded.Height));
        Assert.Equal((double)width / height, (double)decoded.Width / decoded.Height, 1);
    }

    [Fact]
    public async Task Noise_that_compresses_badly_still_fits_the_manifest_or_gets_none()
    {
        using var bitmap = new SKBitmap(new SKImageInfo(800, 800));
        var noise = RandomNumberGenerator.GetBytes(800 * 800 * 4);
        System.Runtime.InteropServices.Marshal.Copy(noise, 0, bitmap.GetPixels(), noise.Length);
        using var png = bitmap.Encode(SKEncodedImageFormat.Png, 100);

        var thumbnail = await _thumbnailer.CreateAsync(png.ToArray(), CancellationToken.None);

        Assert.True(thumbnail is null || thumbnail.Length <= FileManifest.MaxThumbnailBytes);
    }

    [Fact]
    public async Task Garbage_text_and_a_truncated_image_get_no_thumbnail()
    {
        var jpeg = TestImages.Photo(400, 300, SKEncodedImageFormat.Jpeg);
        Assert.Null(await _thumbnailer.CreateAsync(RandomNumberGenerator.GetBytes(5000), CancellationToken.None));
        Assert.Null(await _thumbnailer.CreateAsync("<html><script>alert(1)</script></html>"u8.ToArray(), CancellationToken.None));
        Assert.Null(await _thumbnailer.CreateAsync(jpeg.AsMemory(0, 12), CancellationToken.None));
        // An image's signature on garbage.
        Assert.Null(await _thumbnailer.CreateAsync(jpeg.Take(4).Concat(RandomNumberGenerator.GetBytes(4000)).ToArray(), CancellationToken.None));
    }

    [Fact]
    public async Task A_header_claiming_huge_dimensions_gets_no_thumbnail_and_is_not_decoded()
    {
        var before = GC.GetTotalAllocatedBytes(precise: true);

        Assert.Null(await _thumbnailer.CreateAsync(TestImages.PngClaiming(60_000, 60_000), CancellationToken.None));
        Assert.Null(await _thumbnailer.CreateAsync(TestImages.PngClaiming(10_000, 10_000), CancellationToken.None));

        Assert.True(GC.GetTotalAllocatedBytes(precise: true) - before < 16 * 1024 * 1024, "nothing of the claimed size was allocated");
    }

    [Fact]
    public async Task An_image_over_the_pixel_budget_gets_no_thumbnail()
    {
        using var small = new SkiaThumbnailer(maxDecodedPixels: 100 * 100);
        var png = TestImages.Photo(200, 200, SKEncodedImageFormat.Png);

        Assert.Null(await small.CreateAsync(png, CancellationToken.None));
        Assert.NotNull(await _thumbnailer.CreateAsync(png, CancellationToken.None));
    }

    [Fact]
    public async Task A_photo_turned_by_its_exif_orientation_is_shown_upright()
    {
        // The pixels are stored 400 wide and 200 high; orientation 6 says the camera was turned: upright it is 200 × 400,
        // and its thumbnail 160 × 320.
        var jpeg = WithExifOrientation(TestImages.Photo(400, 200, SKEncodedImageFormat.Jpeg), 6);

        var thumbnail = await _thumbnailer.CreateAsync(jpeg, CancellationToken.None);

        using var decoded = SKBitmap.Decode(thumbnail);
        Assert.Equal((160, 320), (decoded.Width, decoded.Height));
    }

    /// <summary>Inserts an APP1 Exif segment with one Orientation tag right after the JPEG's start-of-image marker.</summary>
    private static byte[] WithExifOrientation(byte[] jpeg, ushort orientation)
    {
        byte[] tiff =
        [
            (byte)'M', (byte)'M', 0, 42, 0, 0, 0, 8, // big endian, first directory at 8
            0, 1, // one entry
            0x01, 0x12, 0, 3, 0, 0, 0, 1, (byte)(orientation >> 8), (byte)orientation, 0, 0, // Orientation, SHORT, 1
            0, 0, 0, 0, // no next directory
        ];
        byte[] exif = [.. "Exif\0\0"u8, .. tiff];
        var length = exif.Length + 2;
        return [0xFF, 0xD8, 0xFF, 0xE1, (byte)(length >> 8), (byte)length, .. exif, .. jpeg[2..]];
    }
}
