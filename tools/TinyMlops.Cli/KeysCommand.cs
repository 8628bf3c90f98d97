using System;
using System.Globalization;
using System.IO;
using TinyMlops.Releases;

namespace TinyMlops.Cli;

/// <summary>
/// <c>tinymlops keys create|rotate|show</c>: the release keys (<see cref="KeyStore"/>). <c>create</c> makes the root
/// key in an offline folder and the first signing key in the key folder; <c>rotate</c> certifies a new signing key
/// with the root key and retires the old one; <c>show</c> prints ids, sequences and validity. Private keys are never
/// printed.
/// </summary>
public static class KeysCommand
{
    private const string DefaultDirectory = "keys";

    /// <summary><c>keys create --vendor V --root-dir DIR [--dir DIR] [--days N]</c>.</summary>
    public static int Create(Options o)
    {
        string dir = o.Get("dir") ?? DefaultDirectory;
        string rootDir = o.Get("root-dir")!;
        if (Path.GetFullPath(rootDir).TrimEnd(Path.DirectorySeparatorChar) == Path.GetFullPath(dir).TrimEnd(Path.DirectorySeparatorChar))
        {
            throw new UsageException("--root-dir must not be the key folder: the root key is kept offline, apart from the signing key");
        }

        KeyStore keys = KeyStore.Create(dir, rootDir, o.Get("vendor")!, Validity(o), DateTimeOffset.UtcNow);
        Console.WriteLine($"created the root key in {Path.Combine(rootDir, KeyStore.RootKeyFile)} (owner-only): move it offline; 'keys rotate' needs it");
        Console.WriteLine($"gateways trust {Path.Combine(dir, KeyStore.RootPublicFile)}");
        Print(keys);
        return 0;
    }

    /// <summary><c>keys rotate --root-key FILE [--dir DIR] [--days N]</c>.</summary>
    public static int Rotate(Options o)
    {
        KeyStore keys = KeyStore.Open(o.Get("dir") ?? DefaultDirectory);
        SigningKeyCertificate c = keys.Rotate(o.Get("root-key")!, Validity(o), DateTimeOffset.UtcNow);
        Console.WriteLine($"rotated: signing key {c.KeyId} (certificate {c.Sequence}) replaces the old one, whose private key is deleted; gateways accept it through the root key");
        Print(keys);
        return 0;
    }

    /// <summary><c>keys show [--dir DIR]</c>.</summary>
    public static int Show(Options o)
    {
        Print(KeyStore.Open(o.Get("dir") ?? DefaultDirectory));
        return 0;
    }

    private static void Print(KeyStore keys)
    {
        (SigningKeyCertificate c, _) = keys.Current();
        Console.WriteLine($"vendor        {keys.Vendor}");
        Console.WriteLine($"root key      {KeyIds.Of(keys.RootPublicKey())} (ECDSA P-256)");
        Console.WriteLine($"signing key   {c.KeyId} (ECDSA P-256), certificate {c.Sequence}, valid {c.NotBefore:u} .. {c.NotAfter:u}{(DateTimeOffset.UtcNow > c.NotAfter ? " EXPIRED" : "")}");
    }

    private static TimeSpan Validity(Options o)
    {
        string? days = o.Get("days");
        if (days == null)
        {
            return TimeSpan.FromDays(365);
        }

        if (!int.TryParse(days, NumberStyles.None, CultureInfo.InvariantCulture, out int n) || n < 1 || n > 3650)
        {
            throw new UsageException($"--days takes 1..3650, not '{days}'");
        }

        return TimeSpan.FromDays(n);
    }
}
