// The standard self-metrics of receivers and exporters, named as the OpenTelemetry Collector
// names them, so that dashboards built for the Collector read Hodos too.
#pragma once

#include <string>

#include "pipeline/component.h"
#include "pipeline/metrics.h"

namespace hodos::pipeline {

class ReceiverObs {
 public:
  ReceiverObs(Metrics& m, const ComponentId& id, const std::string& transport)
      : accepted_(m.counter("otelcol_receiver_accepted_spans_total",
                            "Spans successfully pushed into the pipeline.",
                            {{"receiver", id.str()}, {"transport", transport}})),
        refused_(m.counter("otelcol_receiver_refused_spans_total",
                           "Spans that could not be pushed into the pipeline.",
                           {{"receiver", id.str()}, {"transport", transport}})),
        bad_requests_(m.counter("hodos_receiver_rejected_requests_total",
                                "Requests rejected as malformed, oversized or of a wrong type.",
                                {{"receiver", id.str()}, {"transport", transport}})) {}

  void accepted(uint64_t spans) { accepted_.add(spans); }
  void refused(uint64_t spans) { refused_.add(spans); }
  void bad_request() { bad_requests_.add(); }

 private:
  Counter& accepted_;
  Counter& refused_;
  Counter& bad_requests_;
};

class ExporterObs {
 public:
  ExporterObs(Metrics& m, const ComponentId& id)
      : sent_(m.counter("otelcol_exporter_sent_spans_total",
                        "Spans successfully sent to the destination.", {{"exporter", id.str()}})),
        failed_(m.counter("otelcol_exporter_send_failed_spans_total",
                          "Spans that failed to be sent (dropped after retries or as permanent).",
                          {{"exporter", id.str()}})),
        enqueue_failed_(m.counter("otelcol_exporter_enqueue_failed_spans_total",
                                  "Spans refused because the sending queue was full.",
                                  {{"exporter", id.str()}})) {}

  void sent(uint64_t spans) { sent_.add(spans); }
  void failed(uint64_t spans) { failed_.add(spans); }
  void enqueue_failed(uint64_t spans) { enqueue_failed_.add(spans); }

 private:
  Counter& sent_;
  Counter& failed_;
  Counter& enqueue_failed_;
};

}  // namespace hodos::pipeline
