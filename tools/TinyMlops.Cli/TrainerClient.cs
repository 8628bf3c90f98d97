using System;
using System.Collections.Generic;
using System.IO;
using System.Net;
using System.Net.Http;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json;
using System.Threading.Tasks;
using TinyMlops.Trainer;

namespace TinyMlops.Cli;

/// <summary>
/// The trainer service's operator API (<c>/api/admin/…</c>) for commands given <c>--trainer URL</c>: the same
/// answers the local registry gives, from the service, with an operator token from <c>--token-file</c> (owner-only)
/// or <c>TINYMLOPS_OPERATOR_TOKEN</c>. Errors come back as <see cref="CliException"/> with the service's own words.
/// </summary>
public sealed class TrainerClient : IDisposable
{
    private readonly HttpClient _http;

    private TrainerClient(Uri url, string token)
    {
        // A release is evaluated inside the service before it answers: minutes on a big evaluation set.
        _http = new HttpClient { BaseAddress = url, Timeout = TimeSpan.FromMinutes(30) };
        _http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", token);
    }

    /// <summary>A client when <c>--trainer</c> is given, else null (the command works on the local registry).</summary>
    public static TrainerClient? From(Options o)
    {
        if (o.Get("trainer") is not { } url)
        {
            return null;
        }

        if (!Uri.TryCreate(url.EndsWith('/') ? url : url + "/", UriKind.Absolute, out Uri? uri) || uri.Scheme is not ("http" or "https"))
        {
            throw new UsageException($"--trainer {url} is not an http(s) URL");
        }

        if (o.Get("registry") != null)
        {
            throw new UsageException("--trainer and --registry are two ways to the registry: give one");
        }

        string? token = o.Get("token-file") is { } file ? ReadToken(file) : Environment.GetEnvironmentVariable("TINYMLOPS_OPERATOR_TOKEN");
        if (string.IsNullOrWhiteSpace(token))
        {
            throw new UsageException("--trainer needs an operator token: --token-file FILE (one of the service's Trainer:OperatorTokenFile lines) or TINYMLOPS_OPERATOR_TOKEN");
        }

        return new TrainerClient(uri, token.Trim());
    }

    /// <summary>GETs <paramref name="path"/> as <typeparamref name="T"/>.</summary>
    public T Get<T>(string path) => Read<T>(Send(new HttpRequestMessage(HttpMethod.Get, path)));

    /// <summary>GETs <paramref name="path"/> as <typeparamref name="T"/>, or default when the service answers 404.</summary>
    public T? Find<T>(string path)
    {
        HttpResponseMessage r = SendRaw(new HttpRequestMessage(HttpMethod.Get, path));
        if (r.StatusCode == HttpStatusCode.NotFound)
        {
            r.Dispose();
            return default;
        }

        return Read<T>(Check(r));
    }

    /// <summary>DELETEs <paramref name="path"/>; false when the service answers 404 (nothing there).</summary>
    public bool Delete(string path)
    {
        using HttpResponseMessage r = SendRaw(new HttpRequestMessage(HttpMethod.Delete, path));
        if (r.StatusCode == HttpStatusCode.NotFound)
        {
            return false;
        }

        Check(r).Dispose();
        return true;
    }

    /// <summary>POSTs <paramref name="body"/> as JSON to <paramref name="path"/>, reading the answer as <typeparamref name="T"/>.</summary>
    public T Post<T>(string path, object body) => Read<T>(Send(new HttpRequestMessage(HttpMethod.Post, path) { Content = JsonContent.Create(body) }));

    /// <summary>POSTs <paramref name="body"/> as JSON to <paramref name="path"/>.</summary>
    public void Post(string path, object body) => Send(new HttpRequestMessage(HttpMethod.Post, path) { Content = JsonContent.Create(body) }).Dispose();

    /// <summary>Uploads the model folder <paramref name="folder"/> for the service to evaluate, register and sign.</summary>
    public ReleaseView Release(string folder, IReadOnlyDictionary<string, string?> fields, Action<IReadOnlyList<GateFigure>> onRefused)
    {
        using var form = new MultipartFormDataContent();
        int files = 0;
        foreach (string name in ReleaseFolder.Files)
        {
            string path = Path.Combine(folder, name);
            if (File.Exists(path))
            {
                form.Add(new ByteArrayContent(File.ReadAllBytes(path)), name, Path.GetFileName(name));
                files++;
            }
        }

        if (files == 0)
        {
            throw new CliException($"{folder} has none of a model folder's files (what `tinymlops train` writes)");
        }

        foreach ((string key, string? value) in fields)
        {
            if (value != null)
            {
                form.Add(new StringContent(value), key);
            }
        }

        using HttpResponseMessage r = SendRaw(new HttpRequestMessage(HttpMethod.Post, "api/admin/releases") { Content = form });
        if (r.StatusCode == HttpStatusCode.Conflict)
        {
            using JsonDocument refusal = JsonDocument.Parse(r.Content.ReadAsStringAsync().GetAwaiter().GetResult());
            if (refusal.RootElement.TryGetProperty("gate", out JsonElement gate))
            {
                onRefused(gate.Deserialize<List<GateFigure>>(JsonSerializerOptions.Web) ?? []);
            }

            throw new CliException(Error(r, refusal.RootElement));
        }

        return Read<ReleaseView>(Check(r));
    }

    /// <inheritdoc />
    public void Dispose() => _http.Dispose();

    internal static string ReadToken(string file)
    {
        try
        {
            if (Contracts.SecretFile.IsExposed(file))
            {
                throw new CliException($"--token-file {file} can be read by others: chmod 600 it");
            }

            return File.ReadAllText(file);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new CliException($"--token-file {file}: {e.Message}");
        }
    }

    private HttpResponseMessage Send(HttpRequestMessage request) => Check(SendRaw(request));

    private HttpResponseMessage SendRaw(HttpRequestMessage request)
    {
        using (request)
        {
            try
            {
                return _http.Send(request);
            }
            catch (Exception e) when (e is HttpRequestException or TaskCanceledException)
            {
                throw new CliException($"cannot reach the trainer at {_http.BaseAddress}: {e.Message}");
            }
        }
    }

    private HttpResponseMessage Check(HttpResponseMessage r)
    {
        if (r.IsSuccessStatusCode)
        {
            return r;
        }

        using (r)
        {
            string body = r.Content.ReadAsStringAsync().GetAwaiter().GetResult();
            try
            {
                using JsonDocument d = JsonDocument.Parse(body);
                throw new CliException(Error(r, d.RootElement));
            }
            catch (JsonException)
            {
                throw new CliException($"the trainer at {_http.BaseAddress} answered {(int)r.StatusCode} {r.ReasonPhrase}");
            }
        }
    }

    private string Error(HttpResponseMessage r, JsonElement body)
    {
        string? said = body.ValueKind != JsonValueKind.Object ? null
            : body.TryGetProperty("error", out JsonElement e) ? e.GetString()
            : body.TryGetProperty("detail", out JsonElement d) ? d.GetString()
            : body.TryGetProperty("title", out JsonElement t) ? t.GetString() : null;
        return $"the trainer at {_http.BaseAddress} answered {(int)r.StatusCode}: {said ?? r.ReasonPhrase}";
    }

    private static T Read<T>(HttpResponseMessage r)
    {
        using (r)
        {
            return r.Content.ReadFromJsonAsync<T>(JsonSerializerOptions.Web).GetAwaiter().GetResult()
                ?? throw new CliException("the trainer answered nothing");
        }
    }
}
