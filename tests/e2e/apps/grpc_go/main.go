// A grpc-go server and client of hodos.test.Chain (../chain.proto) for tests/e2e/grpc.test.mjs,
// built offline against Debian's golang-google-grpc-dev (GOPATH=/usr/share/gocode,
// GO111MODULE=off: see buildGrpcGo in tests/e2e/lib/servers.mjs). No generated code: the service
// is a hand-written grpc.ServiceDesc, the messages are in messages.go; the codec is grpc-go's
// default (protobuf), so the Node implementation (../grpc_node.mjs) calls it and is called by it.
//
//	grpc_go [NEXT ...]
//	    Serves on 127.0.0.1 and prints "port N" once listening. NEXT (a port, or host:port) is
//	    another Chain server: each call is passed on to every NEXT in turn (see chain.proto).
//	grpc_go client ADDR [-calls N] [-concurrency C] [-codes CODE,...] [-fail CODE] [-list N]
//	                    [-list-fail CODE] [-sum N] [-id PREFIX] [-traceparent TP]
//	    Calls ADDR over one connection: N Get calls, C at a time, call i asking the leaf for the
//	    i-th of -codes (round robin; default 0, OK); then, with -fail, one more Get asking the
//	    leaf to fail with CODE; with -list, one List asking for N replies (and to end
//	    with -list-fail); with -sum, one Sum streaming N requests. With -traceparent, every Get
//	    carries it as metadata (an instrumented caller's trace context). Prints the outcome of every
//	    call as JSON, as grpc_node.mjs does: {"calls": [{"method", "id", "code", "message",
//	    "hops", "replies", "seq"}]}.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

const serviceName = "hodos.test.Chain"

var chainDesc = grpc.ServiceDesc{
	ServiceName: serviceName,
	HandlerType: (*interface{})(nil),
	Methods:     []grpc.MethodDesc{{MethodName: "Get", Handler: get}},
	Streams: []grpc.StreamDesc{
		{StreamName: "List", Handler: list, ServerStreams: true},
		{StreamName: "Sum", Handler: sum, ClientStreams: true},
	},
	Metadata: "chain.proto",
}

// The streams as a caller names them (no handler: chainDesc's handlers use these).
var (
	listDesc = &grpc.StreamDesc{StreamName: "List", ServerStreams: true}
	sumDesc  = &grpc.StreamDesc{StreamName: "Sum", ClientStreams: true}
)

type server struct {
	me    string // "go:PORT"
	nexts []*grpc.ClientConn
}

// The status the leaf was asked to fail with.
func asked(in *Request) error {
	return status.Errorf(codes.Code(in.FailCode), "%s failed as asked", in.Id)
}

// A callee's status, passed up unchanged (a hop fails the way its next hop did).
func relay(err error) error {
	return status.Convert(err).Err()
}

func get(srv interface{}, ctx context.Context, dec func(interface{}) error,
	_ grpc.UnaryServerInterceptor) (interface{}, error) {
	s := srv.(*server)
	in := &Request{}
	if err := dec(in); err != nil {
		return nil, err
	}
	out := &Reply{Id: in.Id, Hops: []string{s.me}}
	if len(s.nexts) == 0 && in.FailCode != 0 {
		return nil, asked(in)
	}
	for _, next := range s.nexts {
		got := &Reply{}
		// From the handler's goroutine, with its context: the caller's deadline goes on.
		if err := next.Invoke(ctx, "/"+serviceName+"/Get", in, got); err != nil {
			return nil, relay(err)
		}
		out.Hops = append(out.Hops, got.Hops...)
	}
	return out, nil
}

func list(srv interface{}, stream grpc.ServerStream) error {
	s := srv.(*server)
	in := &Request{}
	if err := stream.RecvMsg(in); err != nil {
		return err
	}
	if len(s.nexts) == 0 {
		for i := int32(0); i < in.Count; i++ {
			if err := stream.SendMsg(&Reply{Id: in.Id, Hops: []string{s.me}, Seq: i}); err != nil {
				return err
			}
		}
		if in.FailCode != 0 {
			return asked(in) // in the trailers, after the replies
		}
		return nil
	}
	for _, next := range s.nexts {
		call, err := next.NewStream(stream.Context(), listDesc, "/"+serviceName+"/List")
		if err != nil {
			return relay(err)
		}
		// A failed send shows again, with the call's status, in RecvMsg.
		if err := call.SendMsg(in); err == nil {
			call.CloseSend()
		}
		for {
			got := &Reply{}
			err := call.RecvMsg(got)
			if err == io.EOF {
				break
			}
			if err != nil {
				return relay(err)
			}
			got.Hops = append([]string{s.me}, got.Hops...)
			if err := stream.SendMsg(got); err != nil {
				return err
			}
		}
	}
	return nil
}

func sum(srv interface{}, stream grpc.ServerStream) error {
	s := srv.(*server)
	calls := make([]grpc.ClientStream, len(s.nexts))
	for i, next := range s.nexts {
		var err error
		if calls[i], err = next.NewStream(stream.Context(), sumDesc, "/"+serviceName+"/Sum"); err != nil {
			return relay(err)
		}
	}
	out := &Reply{Hops: []string{s.me}}
	last := &Request{}
	for {
		in := &Request{}
		err := stream.RecvMsg(in)
		if err == io.EOF {
			break
		}
		if err != nil {
			return err
		}
		if out.Seq == 0 {
			out.Id = in.Id
		}
		out.Seq++
		last = in
		for _, call := range calls {
			call.SendMsg(in) // a failure shows in CloseAndRecv below
		}
	}
	if len(calls) == 0 {
		if last.FailCode != 0 {
			return asked(last)
		}
		return stream.SendMsg(out)
	}
	for _, call := range calls {
		call.CloseSend()
		got := &Reply{}
		if err := call.RecvMsg(got); err != nil {
			return relay(err)
		}
		out.Hops = append(out.Hops, got.Hops...)
		out.Seq = got.Seq // the leaf's count
	}
	return stream.SendMsg(out)
}

// A bare port is one on 127.0.0.1.
func address(next string) string {
	if _, err := strconv.Atoi(next); err == nil {
		return "127.0.0.1:" + next
	}
	return next
}

func serve(nexts []string) error {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	port := lis.Addr().(*net.TCPAddr).Port
	s := &server{me: fmt.Sprintf("go:%d", port)}
	for _, next := range nexts {
		// Dialled now (grpc-go connects at once, in the background): the connection and its
		// goroutines are made before any request, and shared by all of them.
		conn, err := grpc.Dial(address(next), grpc.WithInsecure())
		if err != nil {
			return err
		}
		s.nexts = append(s.nexts, conn)
	}
	gs := grpc.NewServer()
	gs.RegisterService(&chainDesc, s)
	fmt.Printf("port %d\n", port)
	return gs.Serve(lis)
}

// --- client mode ---------------------------------------------------------------------------

type result struct {
	Method  string   `json:"method"`
	Id      string   `json:"id"`
	Code    int      `json:"code"`
	Message string   `json:"message"`
	Hops    []string `json:"hops"`    // of the reply (List: of its last reply)
	Replies int      `json:"replies"` // how many replies came
	Seq     int32    `json:"seq"`     // of the (last) reply
}

func (r *result) end(err error) {
	st := status.Convert(err)
	r.Code = int(st.Code())
	r.Message = st.Message()
	if r.Hops == nil {
		r.Hops = []string{}
	}
}

func (r *result) got(reply *Reply) {
	r.Replies++
	r.Hops = reply.Hops
	r.Seq = reply.Seq
}

const callTimeout = 30 * time.Second // generous: the machine may be busy; tests never assert timings

// The W3C traceparent the Get calls carry (-traceparent), as an instrumented caller sends it.
var traceparent string

func callGet(conn *grpc.ClientConn, id string, failCode int32) result {
	ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
	defer cancel()
	if traceparent != "" {
		ctx = metadata.AppendToOutgoingContext(ctx, "traceparent", traceparent)
	}
	r := result{Method: "Get", Id: id}
	reply := &Reply{}
	err := conn.Invoke(ctx, "/"+serviceName+"/Get", &Request{Id: id, FailCode: failCode}, reply)
	if err == nil {
		r.got(reply)
	}
	r.end(err)
	return r
}

func callList(conn *grpc.ClientConn, id string, count, failCode int32) result {
	ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
	defer cancel()
	r := result{Method: "List", Id: id}
	call, err := conn.NewStream(ctx, listDesc, "/"+serviceName+"/List")
	if err == nil {
		if call.SendMsg(&Request{Id: id, Count: count, FailCode: failCode}) == nil {
			call.CloseSend()
		}
		for {
			reply := &Reply{}
			if err = call.RecvMsg(reply); err != nil {
				break
			}
			r.got(reply)
		}
		if err == io.EOF {
			err = nil
		}
	}
	r.end(err)
	return r
}

func callSum(conn *grpc.ClientConn, id string, count int) result {
	ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
	defer cancel()
	r := result{Method: "Sum", Id: id}
	call, err := conn.NewStream(ctx, sumDesc, "/"+serviceName+"/Sum")
	if err == nil {
		for i := 0; i < count; i++ {
			if call.SendMsg(&Request{Id: fmt.Sprintf("%s-%d", id, i)}) != nil {
				break // the status comes with RecvMsg
			}
		}
		call.CloseSend()
		reply := &Reply{}
		if err = call.RecvMsg(reply); err == nil {
			r.got(reply)
		}
	}
	r.end(err)
	return r
}

func client(args []string) error {
	if len(args) < 1 {
		return errors.New("client: ADDR missing")
	}
	fs := flag.NewFlagSet("client", flag.ContinueOnError)
	calls := fs.Int("calls", 1, "Get calls")
	concurrency := fs.Int("concurrency", 1, "Get calls at a time")
	codeList := fs.String("codes", "0", "the statuses the Get calls ask for, round robin")
	fail := fs.Int("fail", 0, "one more Get, failing with this status code")
	listCount := fs.Int("list", -1, "one List call asking for this many replies")
	listFail := fs.Int("list-fail", 0, "the status code the List call ends with")
	sumCount := fs.Int("sum", -1, "one Sum call streaming this many requests")
	prefix := fs.String("id", "go", "the prefix of the call ids")
	fs.StringVar(&traceparent, "traceparent", "", "a W3C traceparent the Get calls carry")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	var statuses []int32
	for _, c := range strings.Split(*codeList, ",") {
		n, err := strconv.Atoi(c)
		if err != nil {
			return fmt.Errorf("client: -codes %q: %v", *codeList, err)
		}
		statuses = append(statuses, int32(n))
	}
	conn, err := grpc.Dial(address(args[0]), grpc.WithInsecure())
	if err != nil {
		return err
	}
	defer conn.Close()

	results := make([]result, *calls)
	next := make(chan int)
	var wg sync.WaitGroup
	for w := 0; w < *concurrency; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				results[i] = callGet(conn, fmt.Sprintf("%s-%d", *prefix, i), statuses[i%len(statuses)])
			}
		}()
	}
	for i := 0; i < *calls; i++ {
		next <- i
	}
	close(next)
	wg.Wait()
	if *fail != 0 {
		results = append(results, callGet(conn, *prefix+"-fail", int32(*fail)))
	}
	if *listCount >= 0 {
		results = append(results, callList(conn, *prefix+"-list", int32(*listCount), int32(*listFail)))
	}
	if *sumCount >= 0 {
		results = append(results, callSum(conn, *prefix+"-sum", *sumCount))
	}
	return json.NewEncoder(os.Stdout).Encode(map[string]interface{}{"calls": results})
}

func main() {
	var err error
	if len(os.Args) > 1 && os.Args[1] == "client" {
		err = client(os.Args[2:])
	} else {
		err = serve(os.Args[1:])
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "grpc_go:", err)
		os.Exit(1)
	}
}
