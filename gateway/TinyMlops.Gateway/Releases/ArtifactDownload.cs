using System;
using System.IO;
using System.Net;
using System.Net.Http;
using System.Net.Http.Headers;
using System.Threading;
using System.Threading.Tasks;
using TinyMlops.Releases;

namespace TinyMlops.Gateway.Releases;

/// <summary>
/// Fetches one release artifact into a staging folder, resuming a part left by a cut connection or a restart with an
/// HTTP Range request, and never accepting more bytes than the manifest states. The file is named by its digest and
/// appears under that name only once its size and SHA-256 match the manifest; a complete part that does not match is
/// deleted (the next try starts over) and reported as <see cref="ReleaseError.DigestMismatch"/>.
/// </summary>
public static class ArtifactDownload
{
    /// <summary>The verified file for <paramref name="artifact"/> in <paramref name="staging"/>, fetching what is missing.</summary>
    public static async Task<string> FetchAsync(HttpClient http, Func<string, HttpRequestMessage> request, ReleaseArtifact artifact, string staging, CancellationToken ct)
    {
        Directory.CreateDirectory(staging);
        string done = Path.Combine(staging, artifact.Sha256);
        if (File.Exists(done))
        {
            using FileStream existing = File.OpenRead(done);
            ReleaseVerifier.CheckArtifact(artifact, existing); // a staged file is re-checked: the SD card may have changed it
            return done;
        }

        string part = done + ".part";
        long have = File.Exists(part) ? new FileInfo(part).Length : 0;
        if (have > artifact.Size)
        {
            File.Delete(part);
            have = 0;
        }

        if (have < artifact.Size)
        {
            using HttpRequestMessage m = request("api/artifacts/" + artifact.Sha256);
            if (have > 0)
            {
                m.Headers.Range = new RangeHeaderValue(have, null);
            }

            using HttpResponseMessage response = await http.SendAsync(m, HttpCompletionOption.ResponseHeadersRead, ct).ConfigureAwait(false);
            if (response.StatusCode == HttpStatusCode.OK)
            {
                have = 0; // the server sent it whole: start the part again
            }
            else if (response.StatusCode != HttpStatusCode.PartialContent || response.Content.Headers.ContentRange?.From != have)
            {
                response.EnsureSuccessStatusCode();
                throw new HttpRequestException($"the trainer answered a range request for {artifact.Name} from byte {have} with {(int)response.StatusCode} {response.Content.Headers.ContentRange}");
            }

            await using Stream body = await response.Content.ReadAsStreamAsync(ct).ConfigureAwait(false);
            await using (var file = new FileStream(part, have == 0 ? FileMode.Create : FileMode.Append, FileAccess.Write, FileShare.None))
            {
                var buffer = new byte[64 * 1024];
                long total = have;
                int n;
                while ((n = await body.ReadAsync(buffer, ct).ConfigureAwait(false)) > 0)
                {
                    if (total + n > artifact.Size)
                    {
                        file.Close();
                        File.Delete(part);
                        throw new ReleaseException(ReleaseError.DigestMismatch, $"{artifact.Name}: the trainer sent more than the manifest's {artifact.Size} bytes");
                    }

                    await file.WriteAsync(buffer.AsMemory(0, n), ct).ConfigureAwait(false);
                    total += n;
                }

                file.Flush(flushToDisk: true);
                if (total < artifact.Size)
                {
                    throw new HttpRequestException($"{artifact.Name}: the transfer ended after {total} of {artifact.Size} bytes; the part is kept and resumed");
                }
            }
        }

        try
        {
            using (FileStream staged = File.OpenRead(part))
            {
                ReleaseVerifier.CheckArtifact(artifact, staged);
            }
        }
        catch (ReleaseException)
        {
            File.Delete(part); // complete and wrong: nothing of it can be kept
            throw;
        }

        File.Move(part, done, overwrite: true);
        return done;
    }
}
