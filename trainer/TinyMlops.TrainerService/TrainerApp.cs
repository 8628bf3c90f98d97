using System;
using System.Collections.Generic;
using System.Globalization;
using System.IO;
using System.Linq;
using System.Threading;
using System.Threading.Tasks;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Net.Http.Headers;
using TinyMlops.Contracts;
using TinyMlops.Ingestion;
using TinyMlops.Registry;
using TinyMlops.Releases;

namespace TinyMlops.TrainerService;

/// <summary>
/// <c>tinymlops-trainer</c>: the ingestion endpoints (<see cref="IngestionApp"/>) and, for the same authenticated
/// gateways, the registry's releases (<c>Trainer:Registry</c>: a folder, default <c>registry</c>, or a PostgreSQL
/// connection string shared by several instances; <c>Trainer:RegistryDirectory</c> is its older name). A gateway sees only
/// the board classes it was assigned (<c>tinymlops gateways assign</c>); anything else is 404, as if absent.
/// <list type="bullet">
/// <item><c>GET /api/releases/latest[?newerThan=CLASS:SEQ,…&amp;wait=SECONDS]</c>: the newest release of each
/// served board class; with <c>newerThan</c> and <c>wait</c> (at most 60 s) a long poll that answers as soon as one
/// is newer than given, or with none when the time runs out.</item>
/// <item><c>GET /api/releases/{class}/{sequence}</c>: one signed release document.</item>
/// <item><c>POST /api/releases/status</c>: a gateway's step of installing a release.</item>
/// <item><c>POST /api/rollouts/report</c>: a gateway's nodes in a release's rollout; the answer says which may be updated.</item>
/// <item><c>GET /api/artifacts/{sha256}</c>: an artifact of a served release, resumable (HTTP Range, ETag = digest).</item>
/// <item><c>GET /api/app/latest?runtime=R[&amp;newerThan=SEQ&amp;wait=SECONDS]</c> and <c>GET /api/app/{runtime}/{sequence}</c>:
/// the gateway application's releases, which every authenticated gateway may take; their steps go to
/// <c>POST /api/releases/status</c> with the runtime's channel as board class.</item>
/// </list>
/// </summary>
public static class TrainerApp
{
    /// <summary>Longest long poll.</summary>
    public static readonly TimeSpan MaxWait = TimeSpan.FromSeconds(60);

    /// <summary>Builds the service; <paramref name="configure"/> may add configuration (tests).</summary>
    public static WebApplication Build(string[] args, Action<IConfigurationBuilder>? configure = null)
    {
        WebApplicationBuilder builder = WebApplication.CreateBuilder(new WebApplicationOptions { Args = args, ContentRootPath = AppContext.BaseDirectory });
        configure?.Invoke(builder.Configuration);
        builder.Host.UseSystemd();
        IngestionApp.AddIngestion(builder);
        builder.Services.AddSingleton(_ => ModelRegistry.Open(builder.Configuration["Trainer:Registry"] ?? builder.Configuration["Trainer:RegistryDirectory"] ?? Path.Combine(Directory.GetCurrentDirectory(), "registry")));
        WebApplication app = builder.Build();
        IngestionApp.MapIngestion(app);
        MapReleases(app);
        MapAppReleases(app);
        AdminEndpoints.Map(app);
        return app;
    }

    /// <summary>Maps the release endpoints.</summary>
    public static void MapReleases(WebApplication app)
    {
        app.MapGet("/api/releases/latest", async (HttpContext http, ModelRegistry registry, GatewayCredentials credentials, string? newerThan, double? wait, CancellationToken cancel) =>
        {
            if (credentials.Authenticate(http.Request.Headers.Authorization) is not { } gateway)
            {
                return IngestionApp.Unauthorized(credentials);
            }

            if (!TryParseInstalled(newerThan, out Dictionary<int, long> installed) || wait is < 0 or double.NaN)
            {
                return Results.BadRequest(new { error = "newerThan is CLASS:SEQUENCE[,CLASS:SEQUENCE…] and wait a number of seconds" });
            }

            TimeSpan patience = TimeSpan.FromSeconds(Math.Min(wait ?? 0, MaxWait.TotalSeconds));
            DateTime deadline = DateTime.UtcNow + patience;
            while (true)
            {
                IReadOnlyCollection<int> classes = registry.BoardClassesOf(gateway);
                IReadOnlyList<StoredRelease> latest = registry.LatestReleases(classes);
                bool anyNewer = latest.Any(r => r.Sequence > installed.GetValueOrDefault(r.BoardClass));
                if (anyNewer || newerThan == null || DateTime.UtcNow >= deadline)
                {
                    return Results.Ok(new
                    {
                        gateway,
                        boardClasses = classes,
                        releases = latest.Select(r => new { boardClass = r.BoardClass, sequence = r.Sequence, version = r.Version, created = r.Created }),
                    });
                }

                await Task.Delay(TimeSpan.FromMilliseconds(500), cancel).ConfigureAwait(false);
            }
        });

        app.MapGet("/api/releases/{boardClass:int}/{sequence:long}", (HttpContext http, ModelRegistry registry, GatewayCredentials credentials, int boardClass, long sequence) =>
        {
            if (credentials.Authenticate(http.Request.Headers.Authorization) is not { } gateway)
            {
                return IngestionApp.Unauthorized(credentials);
            }

            StoredRelease? release = registry.BoardClassesOf(gateway).Contains(boardClass) ? registry.Release(boardClass, sequence) : null;
            return release == null
                ? Results.NotFound(new { error = $"no release {sequence} of board class {boardClass} for {gateway}" })
                : Results.Bytes(release.Document, "application/json");
        });

        app.MapPost("/api/releases/status", (HttpContext http, ModelRegistry registry, GatewayCredentials credentials, ReleaseStatusReport? report) =>
        {
            if (credentials.Authenticate(http.Request.Headers.Authorization) is not { } gateway)
            {
                return IngestionApp.Unauthorized(credentials);
            }

            if (report is not { IsWellFormed: true })
            {
                return Results.BadRequest(new { error = $"a status is {{\"boardClass\", \"sequence\" > 0, \"step\": a-z and '_' (1-32), \"detail\": at most {ReleaseStatusReport.MaxDetail} characters}}" });
            }

            if (!registry.BoardClassesOf(gateway).Contains(report.BoardClass) && !GatewayAppChannels.All.Contains(report.BoardClass))
            {
                return Results.NotFound(new { error = $"{gateway} does not serve board class {report.BoardClass}" });
            }

            registry.RecordStatus(gateway, report);
            return Results.NoContent();
        });

        app.MapPost("/api/rollouts/report", (HttpContext http, ModelRegistry registry, GatewayCredentials credentials, RolloutReport? report) =>
        {
            if (credentials.Authenticate(http.Request.Headers.Authorization) is not { } gateway)
            {
                return IngestionApp.Unauthorized(credentials);
            }

            if (report is not { IsWellFormed: true })
            {
                return Results.BadRequest(new { error = $"a rollout report is {{\"boardClass\", \"sequence\" > 0, \"nodes\": at most {RolloutReport.MaxNodes} of {{\"node\", \"state\", \"attempts\", \"lastError\"}}}}" });
            }

            if (!registry.BoardClassesOf(gateway).Contains(report.BoardClass))
            {
                return Results.NotFound(new { error = $"{gateway} does not serve board class {report.BoardClass}" });
            }

            return Results.Ok(registry.ReportRollout(gateway, report.BoardClass, report.Sequence, report.Nodes));
        });

        app.MapGet("/api/artifacts/{sha256}", (HttpContext http, ModelRegistry registry, GatewayCredentials credentials, string sha256) =>
        {
            if (credentials.Authenticate(http.Request.Headers.Authorization) is not { } gateway)
            {
                return IngestionApp.Unauthorized(credentials);
            }

            bool wellFormed = sha256.Length == 64 && sha256.All(char.IsAsciiHexDigitLower);
            byte[]? content = wellFormed && registry.IsReleased(sha256, [.. registry.BoardClassesOf(gateway), .. GatewayAppChannels.All]) ? registry.Artifact(sha256) : null;
            return content == null
                ? Results.NotFound(new { error = $"no released artifact {(wellFormed ? sha256 : "(not a lower-case SHA-256)")} for {gateway}" })
                : Results.Bytes(content, "application/octet-stream", entityTag: new EntityTagHeaderValue("\"" + sha256 + "\""), enableRangeProcessing: true);
        });
    }

    /// <summary>Runs the service until it is stopped.</summary>
    public static async Task Main(string[] args) => await Build(args).RunAsync().ConfigureAwait(false);

    /// <summary>Maps the gateway application's release endpoints.</summary>
    public static void MapAppReleases(WebApplication app)
    {
        app.MapGet("/api/app/latest", async (HttpContext http, ModelRegistry registry, GatewayCredentials credentials, string? runtime, long? newerThan, double? wait, CancellationToken cancel) =>
        {
            if (credentials.Authenticate(http.Request.Headers.Authorization) is not { } gateway)
            {
                return IngestionApp.Unauthorized(credentials);
            }

            if (runtime == null || !GatewayAppChannels.Runtimes.Contains(runtime) || newerThan is < 0 || wait is < 0 or double.NaN)
            {
                return Results.BadRequest(new { error = $"runtime is one of {string.Join(", ", GatewayAppChannels.Runtimes)}, newerThan a sequence and wait a number of seconds" });
            }

            int channel = GatewayAppChannels.Of(runtime);
            DateTime deadline = DateTime.UtcNow + TimeSpan.FromSeconds(Math.Min(wait ?? 0, MaxWait.TotalSeconds));
            while (true)
            {
                StoredRelease? latest = registry.LatestReleases([channel]).SingleOrDefault();
                if ((latest?.Sequence ?? 0) > (newerThan ?? -1) || DateTime.UtcNow >= deadline)
                {
                    return Results.Ok(new { gateway, runtime, sequence = latest?.Sequence ?? 0, version = latest?.Version, created = latest?.Created });
                }

                await Task.Delay(TimeSpan.FromMilliseconds(500), cancel).ConfigureAwait(false);
            }
        });

        app.MapGet("/api/app/{runtime}/{sequence:long}", (HttpContext http, ModelRegistry registry, GatewayCredentials credentials, string runtime, long sequence) =>
        {
            if (credentials.Authenticate(http.Request.Headers.Authorization) is not { } gateway)
            {
                return IngestionApp.Unauthorized(credentials);
            }

            StoredRelease? release = GatewayAppChannels.Runtimes.Contains(runtime) ? registry.Release(GatewayAppChannels.Of(runtime), sequence) : null;
            return release == null
                ? Results.NotFound(new { error = $"no application release {sequence} for {runtime}" })
                : Results.Bytes(release.Document, "application/json");
        });
    }

    private static bool TryParseInstalled(string? text, out Dictionary<int, long> installed)
    {
        installed = [];
        if (string.IsNullOrEmpty(text))
        {
            return true;
        }

        foreach (string pair in text.Split(','))
        {
            string[] p = pair.Split(':');
            if (p.Length != 2 || !int.TryParse(p[0], NumberStyles.None, CultureInfo.InvariantCulture, out int c) || !long.TryParse(p[1], NumberStyles.None, CultureInfo.InvariantCulture, out long s) || !installed.TryAdd(c, s))
            {
                return false;
            }
        }

        return true;
    }
}
