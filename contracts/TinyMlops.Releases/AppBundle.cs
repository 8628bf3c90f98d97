using System;
using System.Collections.Generic;
using System.Formats.Tar;
using System.IO;
using System.IO.Compression;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace TinyMlops.Releases;

/// <summary>What a bundle says of itself (<c>bundle.json</c> at its root).</summary>
/// <param name="AppVersion">The application version the bundle was released as.</param>
/// <param name="Runtime">Its runtime identifier.</param>
public sealed record AppBundleInfo(
    [property: JsonPropertyName("appVersion")] string AppVersion,
    [property: JsonPropertyName("runtime")] string Runtime);

/// <summary>
/// The gateway application as a release artifact: its publish folder as a gzip'd tar with <c>bundle.json</c> at the
/// root. Unpacking trusts nothing in the archive even after its digest checked out: only plain files and folders,
/// no absolute paths, no <c>..</c>, no links or devices, no set-id bits, and bounded in size and count.
/// </summary>
public static class AppBundle
{
    /// <summary>The file at a bundle's root that names it.</summary>
    public const string InfoFile = "bundle.json";

    /// <summary>The file a bundle must carry: the gateway's entry assembly.</summary>
    public const string EntryAssembly = "tinymlops-gateway.dll";

    private const long MaxBytes = 1L << 30;
    private const int MaxEntries = 20_000;

    /// <summary>Packs the publish folder <paramref name="folder"/> as version <paramref name="info"/>.</summary>
    public static byte[] Pack(string folder, AppBundleInfo info)
    {
        if (!File.Exists(Path.Combine(folder, EntryAssembly)))
        {
            throw new ArgumentException($"{folder} is not a gateway publish folder: it has no {EntryAssembly}", nameof(folder));
        }

        using var buffer = new MemoryStream();
        using (var gzip = new GZipStream(buffer, CompressionLevel.Fastest, leaveOpen: true))
        using (var tar = new TarWriter(gzip, TarEntryFormat.Pax, leaveOpen: true))
        {
            var infoEntry = new PaxTarEntry(TarEntryType.RegularFile, InfoFile) { DataStream = new MemoryStream(JsonSerializer.SerializeToUtf8Bytes(info)), Mode = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.OtherRead };
            tar.WriteEntry(infoEntry);
            foreach (string file in Directory.EnumerateFiles(folder, "*", SearchOption.AllDirectories))
            {
                string name = Path.GetRelativePath(folder, file).Replace('\\', '/');
                if (name == InfoFile)
                {
                    continue;
                }

                tar.WriteEntry(file, name);
            }
        }

        return buffer.ToArray();
    }

    /// <summary>
    /// Unpacks <paramref name="bundle"/> into <paramref name="target"/> (which must not exist) and returns its info;
    /// throws <see cref="ReleaseException"/> (<see cref="ReleaseError.Malformed"/>) for anything not a clean bundle,
    /// leaving nothing behind.
    /// </summary>
    public static AppBundleInfo Unpack(Stream bundle, string target)
    {
        if (Directory.Exists(target) || File.Exists(target))
        {
            throw new IOException($"{target} exists already");
        }

        string root = Path.GetFullPath(target);
        Directory.CreateDirectory(root);
        try
        {
            AppBundleInfo? info = null;
            long total = 0;
            int entries = 0;
            using var gzip = new GZipStream(bundle, CompressionMode.Decompress, leaveOpen: true);
            using var tar = new TarReader(gzip);
            while (tar.GetNextEntry() is { } e)
            {
                if (++entries > MaxEntries)
                {
                    throw Bad($"more than {MaxEntries} entries");
                }

                string name = e.Name.TrimEnd('/');
                string path = Path.GetFullPath(Path.Combine(root, name));
                if (name.Length == 0 || Path.IsPathRooted(name) || name.Contains('\\', StringComparison.Ordinal) || Array.IndexOf(name.Split('/'), "..") >= 0
                    || !path.StartsWith(root + Path.DirectorySeparatorChar, StringComparison.Ordinal))
                {
                    throw Bad($"entry '{e.Name}' points outside the bundle");
                }

                switch (e.EntryType)
                {
                    case TarEntryType.Directory:
                        Directory.CreateDirectory(path);
                        continue;
                    case TarEntryType.RegularFile or TarEntryType.V7RegularFile:
                        break;
                    default:
                        throw Bad($"entry '{e.Name}' is a {e.EntryType}; a bundle holds only files and folders");
                }

                total += e.Length;
                if (total > MaxBytes)
                {
                    throw Bad($"more than {MaxBytes >> 20} MiB unpacked");
                }

                Directory.CreateDirectory(Path.GetDirectoryName(path)!);
                using (var f = new FileStream(path, FileMode.CreateNew, FileAccess.Write))
                {
                    e.DataStream?.CopyTo(f);
                }

                if (!OperatingSystem.IsWindows())
                {
                    // Owner-writable only, executable where the archive says so; never set-id or sticky.
                    UnixFileMode mode = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.OtherRead;
                    if ((e.Mode & UnixFileMode.UserExecute) != 0)
                    {
                        mode |= UnixFileMode.UserExecute | UnixFileMode.GroupExecute | UnixFileMode.OtherExecute;
                    }

                    File.SetUnixFileMode(path, mode);
                }

                if (name == InfoFile)
                {
                    info = Info(File.ReadAllBytes(path));
                }
            }

            if (info == null || !File.Exists(Path.Combine(root, EntryAssembly)))
            {
                throw Bad($"it lacks {(info == null ? InfoFile : EntryAssembly)}");
            }

            return info;
        }
        catch (Exception e) when (e is InvalidDataException or FormatException or EndOfStreamException or ReleaseException or IOException)
        {
            Directory.Delete(root, recursive: true);
            throw e as ReleaseException ?? Bad(e.Message);
        }
    }

    /// <summary>The info of the bundle installed in <paramref name="folder"/>, or null when it has none.</summary>
    public static AppBundleInfo? Installed(string folder)
    {
        string file = Path.Combine(folder, InfoFile);
        return File.Exists(file) ? Info(File.ReadAllBytes(file)) : null;
    }

    private static AppBundleInfo Info(byte[] json)
    {
        try
        {
            AppBundleInfo? info = JsonSerializer.Deserialize<AppBundleInfo>(json);
            return info is { AppVersion.Length: > 0, Runtime.Length: > 0 } && Version.TryParse(info.AppVersion, out _) ? info : throw Bad($"{InfoFile} names no version and runtime");
        }
        catch (JsonException e)
        {
            throw Bad($"{InfoFile} does not parse: {e.Message}");
        }
    }

    private static ReleaseException Bad(string why) => new(ReleaseError.Malformed, "not a clean gateway bundle: " + why);
}
