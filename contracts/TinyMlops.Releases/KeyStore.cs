using System;
using System.Globalization;
using System.IO;
using System.Linq;
using System.Security.Cryptography;
using TinyMlops.Contracts;

namespace TinyMlops.Releases;

/// <summary>
/// The trainer's keys, as TUF separates them: a root key kept offline (its own folder, e.g. removable media) that
/// only certifies release-signing keys, and the current signing key beside its certificate in the key folder, which
/// also holds the root's public half for gateways to trust. Rotation makes a new signing key, has the root certify it
/// with the next sequence, and deletes the old private key, so gateways follow without being touched. Private keys
/// are PKCS#8 PEM written owner-only (0600) and refused when anyone else may read them; nothing here prints them.
/// Not thread-safe: one process manages a key folder at a time.
/// </summary>
public sealed class KeyStore
{
    /// <summary>The root's public key (SubjectPublicKeyInfo PEM), in the key folder: what gateways trust.</summary>
    public const string RootPublicFile = "root.pub";

    /// <summary>The root's private key, in the offline folder.</summary>
    public const string RootKeyFile = "root.key";

    /// <summary>The vendor id, in the key folder.</summary>
    public const string VendorFile = "vendor";

    private KeyStore(string directory, string vendor)
    {
        Directory = directory;
        Vendor = vendor;
    }

    /// <summary>The key folder.</summary>
    public string Directory { get; }

    /// <summary>Vendor the keys sign for.</summary>
    public string Vendor { get; }

    /// <summary>
    /// Creates a root key in <paramref name="rootDirectory"/> and the first signing key (certificate 1, valid for
    /// <paramref name="validity"/> from <paramref name="now"/>) in <paramref name="directory"/>. Refuses a folder
    /// that already holds keys.
    /// </summary>
    public static KeyStore Create(string directory, string rootDirectory, string vendor, TimeSpan validity, DateTimeOffset now)
    {
        if (!IsVendorId(vendor))
        {
            throw new ArgumentException($"vendor id '{vendor}' must be 1..64 letters, digits, '-', '_' or '.'");
        }

        string rootKey = Path.Combine(rootDirectory, RootKeyFile);
        if (File.Exists(rootKey) || File.Exists(Path.Combine(directory, RootPublicFile)) || File.Exists(Path.Combine(directory, VendorFile)))
        {
            throw new ReleaseException(ReleaseError.KeyFile, $"keys already exist in {directory} or {rootDirectory}; rotate the signing key instead of creating new ones");
        }

        using ECDsa root = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        SecretFile.WriteAllText(rootKey, root.ExportPkcs8PrivateKeyPem());
        System.IO.Directory.CreateDirectory(directory);
        File.WriteAllText(Path.Combine(directory, RootPublicFile), root.ExportSubjectPublicKeyInfoPem());
        File.WriteAllText(Path.Combine(directory, VendorFile), vendor + "\n");
        var store = new KeyStore(directory, vendor);
        store.Certify(root, 1, validity, now);
        return store;
    }

    /// <summary>Opens the key folder <paramref name="directory"/>.</summary>
    public static KeyStore Open(string directory)
    {
        string vendorFile = Path.Combine(directory, VendorFile);
        if (!File.Exists(vendorFile) || !File.Exists(Path.Combine(directory, RootPublicFile)))
        {
            throw new ReleaseException(ReleaseError.KeyFile, $"{directory} holds no keys (create them with 'tinymlops keys create')");
        }

        string vendor = File.ReadAllText(vendorFile).Trim();
        if (!IsVendorId(vendor))
        {
            throw new ReleaseException(ReleaseError.KeyFile, $"{vendorFile} does not hold a vendor id");
        }

        return new KeyStore(directory, vendor);
    }

    /// <summary>The root's public key (SubjectPublicKeyInfo).</summary>
    public byte[] RootPublicKey()
    {
        string file = Path.Combine(Directory, RootPublicFile);
        try
        {
            using var key = ECDsa.Create();
            key.ImportFromPem(File.ReadAllText(file));
            return key.ExportSubjectPublicKeyInfo();
        }
        catch (Exception e) when (e is ArgumentException or CryptographicException or IOException)
        {
            throw new ReleaseException(ReleaseError.KeyFile, $"{file} is not a public key: {e.Message}");
        }
    }

    /// <summary>The current signing key's certificate (the highest sequence whose private key is here).</summary>
    public (SigningKeyCertificate Certificate, SignedEnvelope Envelope) Current()
    {
        for (int seq = Sequences().DefaultIfEmpty(0).Max(); seq >= 1; seq--)
        {
            if (File.Exists(KeyPath(seq)) && File.Exists(CertificatePath(seq)))
            {
                SignedEnvelope envelope = SignedEnvelope.Parse(File.ReadAllBytes(CertificatePath(seq)));
                return (SignedRelease.Read<SigningKeyCertificate>(envelope.Payload, CertificatePath(seq)), envelope);
            }
        }

        throw new ReleaseException(ReleaseError.KeyFile, $"{Directory} has no signing key with its certificate");
    }

    /// <summary>
    /// Rotates: a new signing key certified by the root key at <paramref name="rootKeyPath"/> with the next sequence,
    /// valid for <paramref name="validity"/> from <paramref name="now"/>; the old private key is deleted.
    /// </summary>
    public SigningKeyCertificate Rotate(string rootKeyPath, TimeSpan validity, DateTimeOffset now)
    {
        using ECDsa root = LoadPrivate(rootKeyPath);
        if (!KeyIds.Of(root).Equals(KeyIds.Of(RootPublicKey()), StringComparison.Ordinal))
        {
            throw new ReleaseException(ReleaseError.KeyFile, $"{rootKeyPath} is not the root key whose public half is in {Directory}");
        }

        int next = Sequences().DefaultIfEmpty(0).Max() + 1;
        SigningKeyCertificate cert = Certify(root, next, validity, now);
        foreach (int old in Sequences().Where(s => s < next))
        {
            File.Delete(KeyPath(old)); // certificates stay as history; the rotated-out key can sign nothing more
        }

        return cert;
    }

    /// <summary>Signs <paramref name="manifest"/> with the current signing key (its vendor must be this store's).</summary>
    public SignedRelease Sign(ReleaseManifest manifest)
    {
        if (!string.Equals(manifest.Vendor, Vendor, StringComparison.Ordinal))
        {
            throw new ArgumentException($"the manifest is for vendor '{manifest.Vendor}', these keys sign for '{Vendor}'");
        }

        return SignPayload(ReleaseManifest.PayloadType, SignedRelease.Write(manifest));
    }

    private SignedRelease SignPayload(string payloadType, byte[] payload)
    {
        (SigningKeyCertificate cert, SignedEnvelope envelope) = Current();
        using ECDsa key = LoadPrivate(KeyPath(cert.Sequence));
        if (!KeyIds.Of(key).Equals(cert.KeyId, StringComparison.Ordinal))
        {
            throw new ReleaseException(ReleaseError.KeyFile, $"{KeyPath(cert.Sequence)} does not match its certificate");
        }

        return new SignedRelease(envelope, SignedEnvelope.Sign(payloadType, payload, key, cert.KeyId));
    }

    /// <summary>Signs a gateway application release with the current signing key (its vendor must be this store's).</summary>
    public SignedRelease Sign(GatewayAppManifest manifest)
    {
        if (!string.Equals(manifest.Vendor, Vendor, StringComparison.Ordinal))
        {
            throw new ArgumentException($"the manifest is for vendor '{manifest.Vendor}', these keys sign for '{Vendor}'");
        }

        return SignPayload(GatewayAppManifest.PayloadType, SignedRelease.Write(manifest));
    }

    /// <summary>A private key from <paramref name="path"/>; refused when missing, corrupt or readable by others.</summary>
    public static ECDsa LoadPrivate(string path)
    {
        if (!File.Exists(path))
        {
            throw new ReleaseException(ReleaseError.KeyFile, $"{path} does not exist");
        }

        if (SecretFile.IsExposed(path))
        {
            throw new ReleaseException(ReleaseError.KeyFile, $"{path} may be read by others than its owner; chmod 600 it (and consider the key compromised)");
        }

        var key = ECDsa.Create();
        try
        {
            key.ImportFromPem(File.ReadAllText(path));
            if (key.KeySize != 256)
            {
                throw new CryptographicException("not a P-256 key");
            }

            return key;
        }
        catch (Exception e) when (e is ArgumentException or CryptographicException)
        {
            key.Dispose();
            throw new ReleaseException(ReleaseError.KeyFile, $"{path} is not a P-256 private key: {e.Message}");
        }
    }

    private SigningKeyCertificate Certify(ECDsa root, int sequence, TimeSpan validity, DateTimeOffset now)
    {
        if (validity <= TimeSpan.Zero)
        {
            throw new ArgumentException("a signing key must be valid for a positive time");
        }

        using ECDsa signing = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        byte[] spki = signing.ExportSubjectPublicKeyInfo();
        var cert = new SigningKeyCertificate
        {
            Vendor = Vendor,
            KeyId = KeyIds.Of(spki),
            PublicKey = Convert.ToBase64String(spki),
            Sequence = sequence,
            NotBefore = now,
            NotAfter = now + validity,
            RootKeyId = KeyIds.Of(root),
        };

        // The key before its certificate: a crash in between leaves a key that Current() ignores, never a certificate without its key.
        SecretFile.WriteAllText(KeyPath(sequence), signing.ExportPkcs8PrivateKeyPem());
        SignedEnvelope envelope = SignedEnvelope.Sign(SigningKeyCertificate.PayloadType, SignedRelease.Write(cert), root, cert.RootKeyId);
        File.WriteAllBytes(CertificatePath(sequence), envelope.ToJson());
        return cert;
    }

    private int[] Sequences() => System.IO.Directory.GetFiles(Directory, "signing-*.cert")
        .Select(f => Path.GetFileNameWithoutExtension(f)["signing-".Length..])
        .Select(s => int.TryParse(s, NumberStyles.None, CultureInfo.InvariantCulture, out int n) ? n : 0).Where(n => n > 0).ToArray();

    private string KeyPath(int sequence) => Path.Combine(Directory, $"signing-{sequence:D4}.key");

    private string CertificatePath(int sequence) => Path.Combine(Directory, $"signing-{sequence:D4}.cert");

    private static bool IsVendorId(string v) => v.Length is > 0 and <= 64 && v.All(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_' or '.');
}
