// One hop of a call chain for the trace-context end-to-end tests (tests/e2e/context.test.mjs):
// a com.sun.net.httpserver server with a thread per request (the executor thread reads the
// request and makes the calls) calling out with HttpURLConnection, synchronously.
// Usage: java ContextHop NEXT_PORT [NEXT_PORT ...]. For GET PATH it calls every
// 127.0.0.1:NEXT_PORT with the same PATH, one after the other, and answers JSON like
// context_hop.py: {"port", "path", "traceparent" (as received, or null), "calls": [{"port",
// "status", "answer"}]}, with the worst status its calls got. Prints "port N" once listening.
import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.HttpURLConnection;
import java.net.InetSocketAddress;
import java.net.URL;
import java.nio.charset.StandardCharsets;
import java.util.concurrent.Executors;

public class ContextHop {
  static int[] nextPorts;

  public static void main(String[] args) throws Exception {
    nextPorts = new int[args.length];
    for (int i = 0; i < args.length; ++i) nextPorts[i] = Integer.parseInt(args[i]);
    HttpServer server = HttpServer.create(new InetSocketAddress("127.0.0.1", 0), 64);
    server.createContext("/", ContextHop::handle);
    server.setExecutor(Executors.newCachedThreadPool());
    server.start();
    System.out.println("port " + server.getAddress().getPort());
  }

  static void handle(HttpExchange ex) throws IOException {
    String path = ex.getRequestURI().getRawPath();
    int worst = 200;
    StringBuilder calls = new StringBuilder();
    for (int port : nextPorts) {
      HttpURLConnection c = (HttpURLConnection) new URL("http://127.0.0.1:" + port + path).openConnection();
      c.setConnectTimeout(10000);
      c.setReadTimeout(10000);
      int status = c.getResponseCode();
      // A 4xx/5xx body comes on the error stream; reading it whole keeps the connection reusable.
      byte[] answer;
      try (InputStream in = status >= 400 ? c.getErrorStream() : c.getInputStream()) {
        answer = in.readAllBytes();
      }
      worst = Math.max(worst, status);
      if (calls.length() > 0) calls.append(',');
      calls.append("{\"port\":").append(port).append(",\"status\":").append(status)
          .append(",\"answer\":").append(new String(answer, StandardCharsets.UTF_8)).append('}');
    }
    String received = ex.getRequestHeaders().getFirst("traceparent");
    String state = ex.getRequestHeaders().getFirst("tracestate");
    String body = "{\"port\":" + ex.getLocalAddress().getPort() + ",\"path\":" + quote(path) +
                  ",\"traceparent\":" + (received == null ? "null" : quote(received)) +
                  ",\"tracestate\":" + (state == null ? "null" : quote(state)) +
                  ",\"calls\":[" + calls + "]}";
    byte[] bytes = body.getBytes(StandardCharsets.UTF_8);
    ex.getResponseHeaders().set("Content-Type", "application/json");
    ex.sendResponseHeaders(worst, bytes.length);
    try (OutputStream o = ex.getResponseBody()) { o.write(bytes); }
  }

  static String quote(String s) {
    return "\"" + s.replace("\\", "\\\\").replace("\"", "\\\"") + "\"";
  }
}
