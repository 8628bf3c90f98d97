using System;
using System.IO;
using System.Threading.Tasks;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using TinyMlops.Gateway.Contracts;

namespace TinyMlops.Ingestion;

/// <summary>
/// The trainer's receiving end for gateways: <c>POST /api/ingest</c> takes an <see cref="UplinkBatch"/> and files it
/// with <see cref="IngestionStore"/> under <c>Ingestion:StoreDirectory</c>; <c>GET /health</c> says how much is filed.
/// </summary>
public static class IngestionApp
{
    /// <summary>Builds the service; <paramref name="configure"/> may add configuration (tests).</summary>
    public static WebApplication Build(string[] args, Action<IConfigurationBuilder>? configure = null)
    {
        WebApplicationBuilder builder = WebApplication.CreateBuilder(new WebApplicationOptions { Args = args, ContentRootPath = AppContext.BaseDirectory });
        configure?.Invoke(builder.Configuration);
        builder.Host.UseSystemd();
        string directory = builder.Configuration["Ingestion:StoreDirectory"] ?? Path.Combine(Directory.GetCurrentDirectory(), "ingested");
        builder.Services.AddSingleton(new IngestionStore(directory));
        WebApplication app = builder.Build();
        app.MapPost("/api/ingest", (UplinkBatch batch, IngestionStore store, ILogger<IngestionStore> log) =>
        {
            IngestResult result = store.Ingest(batch);
            log.LogInformation("{Gateway}: {Accepted} filed, {Duplicates} duplicates, {Relabelled} relabelled, {Rejected} refused",
                batch.GatewayId, result.Accepted, result.Duplicates, result.Relabelled, result.Rejected);
            return Results.Ok(result);
        });
        app.MapGet("/health", (IngestionStore store) => Results.Ok(new { status = "ok", records = store.Count, duplicatesSinceStart = store.DuplicatesSinceStart, recordings = store.RecordingsDirectory }));
        return app;
    }

    /// <summary>Runs the service until it is stopped.</summary>
    public static async Task Main(string[] args) => await Build(args).RunAsync().ConfigureAwait(false);
}
