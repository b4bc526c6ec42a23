// A com.sun.net.httpserver app for the agent's end-to-end tests whose /call/N handler calls a
// backend with Java 11+'s java.net.http.HttpClient. Usage: java HttpClientCall BACKEND_PORT.
// Prints "port N" once listening.
import com.sun.net.httpserver.HttpServer;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;

public class HttpClientCall {
  public static void main(String[] args) throws Exception {
    int backendPort = Integer.parseInt(args[0]);
    // HTTP/1.1 explicitly: the default first tries an h2c upgrade.
    HttpClient client = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).build();
    HttpServer server = HttpServer.create(new InetSocketAddress("127.0.0.1", 0), 0);
    server.createContext("/call/", ex -> {
      String id = ex.getRequestURI().getPath().substring("/call/".length());
      String query = ex.getRequestURI().getRawQuery();
      HttpRequest.Builder req = HttpRequest.newBuilder(URI.create(
          "http://127.0.0.1:" + backendPort + "/items/" + id + (query == null ? "" : "?" + query)));
      String auth = ex.getRequestHeaders().getFirst("Authorization");
      if (auth != null) req.header("Authorization", auth);
      byte[] body;
      int status;
      try {
        HttpResponse<byte[]> r = client.send(req.build(), HttpResponse.BodyHandlers.ofByteArray());
        body = r.body();
        status = r.statusCode();
      } catch (InterruptedException e) {
        throw new java.io.IOException(e);
      }
      ex.sendResponseHeaders(status, body.length);
      try (OutputStream o = ex.getResponseBody()) { o.write(body); }
    });
    server.start();
    System.out.println("port " + server.getAddress().getPort());
  }
}
