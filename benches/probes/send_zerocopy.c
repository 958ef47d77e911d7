// send_zerocopy SIZE ZEROCOPY(0|1) TOTAL_MIB: TOTAL_MIB sent over TCP on loopback in sends of SIZE
// bytes, plainly or with MSG_ZEROCOPY (completions read from the error queue, one buffer reused as a
// server reuses a cached body), sender pinned to CPU 0 and receiver to CPU 1. Prints MB/s and the CPU
// per MiB of each process (getrusage) and of each core (/proc/stat: softirq work run outside either
// process counts there), and whether the kernel reported the zero-copy sends as copied.
// Built and run by scripts/bench-send-zerocopy.sh.
#define _GNU_SOURCE
#include <errno.h>
#include <time.h>
#include <linux/errqueue.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#ifndef SO_ZEROCOPY
#define SO_ZEROCOPY 60
#endif
#ifndef MSG_ZEROCOPY
#define MSG_ZEROCOPY 0x4000000
#endif
static void pin(int c){cpu_set_t s;CPU_ZERO(&s);CPU_SET(c,&s);sched_setaffinity(0,sizeof s,&s);}
static void cores(double*c0,double*c1){FILE*f=fopen("/proc/stat","r");char name[32];unsigned long long v[10];
  while(fscanf(f,"%31s %llu %llu %llu %llu %llu %llu %llu %llu %llu %llu",name,&v[0],&v[1],&v[2],&v[3],&v[4],&v[5],&v[6],&v[7],&v[8],&v[9])==11){
    double busy=(v[0]+v[1]+v[2]+v[5]+v[6])/(double)sysconf(_SC_CLK_TCK);
    if(!strcmp(name,"cpu0"))*c0=busy; if(!strcmp(name,"cpu1"))*c1=busy;} fclose(f);}
static double now(){struct timespec t;clock_gettime(CLOCK_MONOTONIC,&t);return t.tv_sec+t.tv_nsec/1e9;}
static double cpu(int who){struct rusage r;getrusage(who,&r);return r.ru_utime.tv_sec+r.ru_utime.tv_usec/1e6+r.ru_stime.tv_sec+r.ru_stime.tv_usec/1e6;}
int main(int argc,char**argv){
  size_t size=atol(argv[1]); int zc=atoi(argv[2]); long total=atol(argv[3])<<20;
  int ls=socket(AF_INET,SOCK_STREAM,0); struct sockaddr_in a={.sin_family=AF_INET,.sin_addr.s_addr=htonl(0x7f000001)};
  int one=1; setsockopt(ls,SOL_SOCKET,SO_REUSEADDR,&one,sizeof one);
  bind(ls,(void*)&a,sizeof a); socklen_t al=sizeof a; getsockname(ls,(void*)&a,&al); listen(ls,1);
  int p[2]; pipe(p);
  pid_t kid=fork();
  if(kid==0){ pin(1); int c=accept(ls,0,0); char*buf=malloc(1<<16); long got=0; ssize_t n;
    while((n=read(c,buf,1<<16))>0) got+=n; double u=cpu(RUSAGE_SELF); write(p[1],&u,sizeof u); _exit(got==total?0:1);}
  pin(0); int s=socket(AF_INET,SOCK_STREAM,0); if(zc) if(setsockopt(s,SOL_SOCKET,SO_ZEROCOPY,&one,sizeof one)){perror("SO_ZEROCOPY");return 1;}
  connect(s,(void*)&a,sizeof a);
  char*buf=aligned_alloc(4096,size); memset(buf,'x',size);
  double k0a,k1a,k0b,k1b; cores(&k0a,&k1a); double t0=now(), c0=cpu(RUSAGE_SELF); long sent=0, pend=0, copied=0, notes=0;
  while(sent<total){
    size_t want=size; if((long)want>total-sent) want=total-sent;
    ssize_t n=send(s,buf,want,zc?MSG_ZEROCOPY:0);
    if(n<0){ if(errno==ENOBUFS||errno==EAGAIN){ n=0; } else {perror("send");return 1;} }
    sent+=n; if(zc&&n>0) pend++;
    // reap completions (buffers may be reused only after them: this test reuses one buffer, as a server with a
    // cached body would, so it waits for every completion in flight once many are pending)
    while(zc&&(pend>64||(n==0&&pend>0))){
      char cbuf[128]; struct msghdr m={.msg_control=cbuf,.msg_controllen=sizeof cbuf};
      if(recvmsg(s,&m,MSG_ERRQUEUE|(pend>64?0:MSG_DONTWAIT))<0){ if(errno==EAGAIN) break; continue; }
      struct cmsghdr*cm=CMSG_FIRSTHDR(&m); if(!cm) continue;
      struct sock_extended_err*e=(void*)CMSG_DATA(cm);
      if(e->ee_origin!=SO_EE_ORIGIN_ZEROCOPY) continue;
      long k=(long)e->ee_data-(long)e->ee_info+1; pend-=k; notes++;
      if(e->ee_code&SO_EE_CODE_ZEROCOPY_COPIED) copied+=k;
    }
  }
  shutdown(s,SHUT_WR);
  double cs=cpu(RUSAGE_SELF)-c0; int st; double cr=0; read(p[0],&cr,sizeof cr); waitpid(kid,&st,0); double t=now()-t0; cores(&k0b,&k1b);
  double mib=total/1048576.0;
  printf("size=%6zu zc=%d MB/s=%6.0f sender_us/MiB=%5.0f receiver_us/MiB=%5.0f core0_us/MiB=%5.0f core1_us/MiB=%5.0f %s\n",size,zc,mib/t,cs*1e6/mib,cr*1e6/mib,(k0b-k0a)*1e6/mib,(k1b-k1a)*1e6/mib,
         zc?(copied?"(kernel reported: copied)":"(kernel reported: zero-copy)"):"");
  return WEXITSTATUS(st);
}
