// The messages of ../chain.proto as Go types. Debian ships no protoc-gen-go to generate them
// with, so they are written out here the way protoc-gen-go (APIv1) writes them: the `protobuf`
// struct tags are what github.com/golang/protobuf reads to marshal them, which grpc-go's default
// codec ("proto") calls. Keep the tags in step with chain.proto.
package main

import "github.com/golang/protobuf/proto"

// Request is hodos.test.Request.
type Request struct {
	Id       string `protobuf:"bytes,1,opt,name=id,proto3" json:"id,omitempty"`
	FailCode int32  `protobuf:"varint,2,opt,name=fail_code,json=failCode,proto3" json:"fail_code,omitempty"`
	Count    int32  `protobuf:"varint,3,opt,name=count,proto3" json:"count,omitempty"`
}

func (m *Request) Reset()         { *m = Request{} }
func (m *Request) String() string { return proto.CompactTextString(m) }
func (*Request) ProtoMessage()    {}

// Reply is hodos.test.Reply.
type Reply struct {
	Id   string   `protobuf:"bytes,1,opt,name=id,proto3" json:"id,omitempty"`
	Hops []string `protobuf:"bytes,2,rep,name=hops,proto3" json:"hops,omitempty"`
	Seq  int32    `protobuf:"varint,3,opt,name=seq,proto3" json:"seq,omitempty"`
}

func (m *Reply) Reset()         { *m = Reply{} }
func (m *Reply) String() string { return proto.CompactTextString(m) }
func (*Reply) ProtoMessage()    {}
