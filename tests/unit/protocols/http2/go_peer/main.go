// A grpc-go peer for capture_fixtures.mjs: `go_peer serve` runs the hodos.test.Inventory service
// on a free port (printed on stdout); `go_peer call ADDR unary+client-stream` calls one. No
// generated code: messages are the two-field Item encoded by hand, passed through a raw codec.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// item is hodos.test.Item: name = 1 (string), count = 2 (int32).
type item struct {
	name  string
	count int32
}

func (it *item) marshal() []byte {
	out := []byte{0x0a, byte(len(it.name))}
	out = append(out, it.name...)
	if it.count != 0 {
		out = append(out, 0x10, byte(it.count))
	}
	return out
}

func (it *item) unmarshal(b []byte) error {
	for len(b) >= 2 {
		switch b[0] {
		case 0x0a:
			n := int(b[1])
			if len(b) < 2+n {
				return errors.New("short item")
			}
			it.name = string(b[2 : 2+n])
			b = b[2+n:]
		case 0x10:
			it.count = int32(b[1])
			b = b[2:]
		default:
			return errors.New("unexpected field")
		}
	}
	return nil
}

type codec struct{}

func (codec) Marshal(v interface{}) ([]byte, error) { return v.(*item).marshal(), nil }
func (codec) Unmarshal(data []byte, v interface{}) error {
	return v.(*item).unmarshal(data)
}
func (codec) Name() string   { return "proto" }
func (codec) String() string { return "proto" }

func getItem(_ interface{}, ctx context.Context, dec func(interface{}) error,
	_ grpc.UnaryServerInterceptor) (interface{}, error) {
	in := &item{}
	if err := dec(in); err != nil {
		return nil, err
	}
	if in.name == "missing" {
		return nil, status.Error(codes.NotFound, "item missing not found")
	}
	return &item{name: in.name, count: 7}, nil
}

func listItems(_ interface{}, stream grpc.ServerStream) error {
	in := &item{}
	if err := stream.RecvMsg(in); err != nil {
		return err
	}
	for i := 0; i < 3; i++ {
		if err := stream.SendMsg(&item{name: fmt.Sprintf("item-%d", i), count: int32(i)}); err != nil {
			return err
		}
	}
	return nil
}

func addItems(_ interface{}, stream grpc.ServerStream) error {
	total := int32(0)
	for {
		in := &item{}
		err := stream.RecvMsg(in)
		if err == io.EOF {
			return stream.SendMsg(&item{name: "total", count: total})
		}
		if err != nil {
			return err
		}
		total += in.count
	}
}

var inventory = grpc.ServiceDesc{
	ServiceName: "hodos.test.Inventory",
	HandlerType: (*interface{})(nil),
	Methods:     []grpc.MethodDesc{{MethodName: "GetItem", Handler: getItem}},
	Streams: []grpc.StreamDesc{
		{StreamName: "ListItems", Handler: listItems, ServerStreams: true},
		{StreamName: "AddItems", Handler: addItems, ClientStreams: true},
	},
	Metadata: "inventory.proto",
}

func serve() error {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	server := grpc.NewServer(grpc.CustomCodec(codec{}))
	server.RegisterService(&inventory, struct{}{})
	fmt.Println(lis.Addr().(*net.TCPAddr).Port)
	return server.Serve(lis)
}

func call(addr string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	conn, err := grpc.DialContext(ctx, addr, grpc.WithInsecure(), grpc.WithBlock(),
		grpc.WithDefaultCallOptions(grpc.ForceCodec(codec{})), grpc.WithUserAgent("hodos-go-peer"))
	if err != nil {
		return err
	}
	defer conn.Close()
	out := &item{}
	if err := conn.Invoke(ctx, "/hodos.test.Inventory/GetItem", &item{name: "widget", count: 3},
		out); err != nil {
		return err
	}
	stream, err := conn.NewStream(ctx, &inventory.Streams[1], "/hodos.test.Inventory/AddItems")
	if err != nil {
		return err
	}
	for i := 1; i <= 3; i++ {
		if err := stream.SendMsg(&item{name: fmt.Sprintf("add-%d", i), count: int32(i)}); err != nil {
			return err
		}
	}
	if err := stream.CloseSend(); err != nil {
		return err
	}
	return stream.RecvMsg(out)
}

func main() {
	var err error
	switch {
	case len(os.Args) == 2 && os.Args[1] == "serve":
		err = serve()
	case len(os.Args) == 4 && os.Args[1] == "call":
		err = call(os.Args[2])
	default:
		err = errors.New("usage: go_peer serve | go_peer call ADDR unary+client-stream")
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "go_peer:", err)
		os.Exit(1)
	}
}
