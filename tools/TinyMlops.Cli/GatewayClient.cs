using System;
using System.Net;
using System.Net.Http;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using TinyMlops.Contracts;

namespace TinyMlops.Cli;

/// <summary>
/// A gateway's operator API for <c>flash</c> and <c>nodes</c> (<c>--gateway-url</c>, with an operator token from
/// <c>--gateway-token-file</c> or <c>TINYMLOPS_GATEWAY_TOKEN</c>): the nodes it knows and what it last heard from them.
/// </summary>
internal sealed class GatewayClient : IDisposable
{
    private readonly HttpClient _http;

    private GatewayClient(Uri url, string token)
    {
        _http = new HttpClient { BaseAddress = url, Timeout = TimeSpan.FromSeconds(10) };
        _http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", token);
    }

    /// <summary>The gateway's address.</summary>
    public Uri Url => _http.BaseAddress!;

    /// <summary>A client when <c>--gateway-url</c> is given, else null.</summary>
    public static GatewayClient? From(Options o)
    {
        if (o.Get("gateway-url") is not { } url)
        {
            return null;
        }

        string? token = o.Get("gateway-token-file") is { } file ? TrainerClient.ReadToken(file) : Environment.GetEnvironmentVariable("TINYMLOPS_GATEWAY_TOKEN");
        if (string.IsNullOrWhiteSpace(token))
        {
            throw new UsageException("--gateway-url needs an operator token of the gateway: --gateway-token-file FILE (a line of its Gateway:Http:OperatorTokenFile) or TINYMLOPS_GATEWAY_TOKEN");
        }

        return new GatewayClient(FlashCommand.HttpUrl(url, "--gateway-url"), token.Trim());
    }

    /// <summary>
    /// Every node the gateway knows (<c>GET /api/nodes</c>). A refused token is a <see cref="CliException"/>; a gateway
    /// that cannot be reached throws <see cref="HttpRequestException"/>, <see cref="System.Threading.Tasks.TaskCanceledException"/>
    /// or <see cref="System.Text.Json.JsonException"/>, for the caller to wait or give up.
    /// </summary>
    public GatewayNodeView[] Nodes()
    {
        using HttpResponseMessage r = _http.GetAsync("api/nodes").GetAwaiter().GetResult();
        if (r.StatusCode is HttpStatusCode.Unauthorized or HttpStatusCode.Forbidden)
        {
            throw new CliException($"{Url}api/nodes refused the operator token ({(int)r.StatusCode}): check --gateway-token-file");
        }

        r.EnsureSuccessStatusCode();
        return r.Content.ReadFromJsonAsync<GatewayNodeView[]>().GetAwaiter().GetResult() ?? [];
    }

    /// <inheritdoc />
    public void Dispose() => _http.Dispose();
}
